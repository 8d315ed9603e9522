"""ASGI entry point: the web process runs under uvicorn, so pages can hold a live event stream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kling_studio.settings")

application = get_asgi_application()
