from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Video generations"

    def ready(self) -> None:
        from generations import media  # noqa: F401 - registers its deployment check
