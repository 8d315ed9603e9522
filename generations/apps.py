from django.apps import AppConfig


class GenerationsConfig(AppConfig):
    name = "generations"
    verbose_name = "Video generations"
