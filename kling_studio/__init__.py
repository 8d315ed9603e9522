from kling_studio.celery import app as celery_app

__version__ = "1.0"
__all__ = ["celery_app"]
