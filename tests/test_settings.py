"""Settings come from the environment, and a bad value stops the process loudly."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kling_studio.localservices import BASE_DIR


def load_settings(**env: str) -> subprocess.CompletedProcess:
    code = "import kling_studio.settings as s; print(s.DEBUG, s.GMI_API_BASE_URL, s.DATABASES['default']['ENGINE'])"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env={**os.environ, **env}, capture_output=True, text=True
    )


def test_the_defaults_run_the_studio_locally():
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("GMI_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-c", "import kling_studio.settings as s; print(s.DEBUG, s.GMI_API_BASE_URL)"],
        cwd=BASE_DIR, env=clean, capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.split() == ["True", "https://console.gmicloud.ai/api/v1/ie/requestqueue/apikey"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "yes"}, "DEBUG must be True or False, not 'yes'"),
        ({"GENERATION_REFRESH_INTERVAL": "soon"}, "GENERATION_REFRESH_INTERVAL must be a number, not 'soon'"),
        ({"GENERATION_MAX_SUBMIT_ATTEMPTS": "0"}, "GENERATION_MAX_SUBMIT_ATTEMPTS must be at least 1, not 0"),
        ({"GMI_API_BASE_URL": "console.gmicloud.ai"}, "GMI_API_BASE_URL must be a http/https URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL must be a redis/rediss/unix URL"),
        ({"DEBUG": "False", "SECRET_KEY": ""}, "SECRET_KEY must be set when DEBUG is False"),
        ({"GENERATION_SUBMIT_LEASE": "1200"}, "must stay under a quarter of CELERY_VISIBILITY_TIMEOUT"),
        ({"GMI_DOWNLOAD_TIMEOUT": "600"}, "must stay under a quarter of CELERY_VISIBILITY_TIMEOUT"),
        ({"GENERATION_SUBMIT_LEASE": "60"}, "a slow attempt could outlive its claim"),
        ({"GMI_READ_TIMEOUT": "60"}, "GENERATION_REFRESH_LEASE must be at least 1 × (GMI_CONNECT_TIMEOUT + GMI_"),
        ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN must be at least 16 characters"),
        ({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,the office"}, "METRICS_ALLOWED_NETWORKS must be comma-separated"),
        ({"HEALTH_HEARTBEAT_MAX_AGE": "2"}, "HEALTH_HEARTBEAT_MAX_AGE must be at least 3 × GENERATION_REFRESH_INTER"),
        ({"SENTRY_DSN": "https://key@sentry.example/1", "SENTRY_TRACES_SAMPLE_RATE": "5"}, "must be at most 1, not 5"),
    ],
)
def test_a_bad_value_stops_the_process_naming_the_variable(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_postgresql_comes_through_database_url():
    result = load_settings(DATABASE_URL="postgres://studio:secret@db.internal:5432/studio")
    assert result.stdout.split()[-1] == "django.db.backends.postgresql"
