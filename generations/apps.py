from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Video generations"

    def ready(self) -> None:
        from generations import media  # noqa: F401 - registers its deployment check
        from generations.search_index import repair_after_migrate

        post_migrate.connect(repair_after_migrate, sender=self, dispatch_uid="generations.search_index.repair")
