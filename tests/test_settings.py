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
        ({"EMAIL_URL": "mail.example.com"}, "EMAIL_URL must be an email URL (smtp://, submission://, console://"),
        ({"EMAIL_URL": "sendmail://localhost"}, "EMAIL_URL must be an email URL"),
        (
            {"EMAIL_URL": "smtp://u:hunter22@mail.example:58x7/"},
            "EMAIL_URL must have a numeric port and timeout, not 'smtp://u:********@mail",
        ),
        ({"EMAIL_URL": "smtp://mail.example/?timeout=soon"}, "EMAIL_URL must have a numeric port and timeout"),
        ({"EMAIL_URL": "smtp://mail.example/?tls=yes"}, "EMAIL_URL's tls must be True or False, not 'yes'"),
        ({"EMAIL_URL": "smtp://mail.example/?starttls=True"}, "EMAIL_URL has an unknown option 'starttls'"),
        ({"EMAIL_URL": "smtp://mail.example/?tls=True&ssl=True"}, "EMAIL_URL may ask for tls or for ssl, not both"),
        ({"DEFAULT_FROM_EMAIL": "Kling Studio"}, "DEFAULT_FROM_EMAIL must be an address"),
        ({"EMAIL_URL": "file://"}, "EMAIL_URL must name a directory, as in file:///var/mail"),
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


def email_settings(**env: str) -> subprocess.CompletedProcess:
    names = "EMAIL_BACKEND EMAIL_HOST EMAIL_PORT EMAIL_HOST_USER EMAIL_HOST_PASSWORD EMAIL_USE_TLS EMAIL_USE_SSL"
    names = [*names.split(), "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL"]
    code = f"import kling_studio.settings as s; print([getattr(s, n) for n in {names!r}])"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env={**os.environ, **env}, capture_output=True, text=True
    )


def test_mail_goes_to_the_console_unless_email_url_says_otherwise():
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("EMAIL_", "DEFAULT_FROM"))}
    result = subprocess.run(
        [sys.executable, "-c", "import kling_studio.settings as s; print(s.EMAIL_BACKEND, s.DEFAULT_FROM_EMAIL)"],
        cwd=BASE_DIR, env=clean, capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.strip() == "django.core.mail.backends.console.EmailBackend Kling Studio <studio@localhost>"


def test_an_smtp_url_with_tls_gives_every_email_setting():
    result = email_settings(
        EMAIL_URL="smtp://studio%40example.com:p%40ss%2Fword@smtp.example.com:587/?tls=True&timeout=20",
        DEFAULT_FROM_EMAIL="studio@example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(
        [
            "django.core.mail.backends.smtp.EmailBackend", "smtp.example.com", 587, "studio@example.com",
            "p@ss/word", True, False, 20, "studio@example.com",
        ]
    )  # fmt: skip


def test_an_smtp_url_without_options_is_plain_smtp_with_a_timeout():
    result = email_settings(EMAIL_URL="smtp://relay.internal", DEFAULT_FROM_EMAIL="studio@example.com")
    assert result.stdout.strip() == repr(
        [
            "django.core.mail.backends.smtp.EmailBackend",
            "relay.internal",
            25,
            "",
            "",
            False,
            False,
            10,
            "studio@example.com",
        ]
    )


def test_a_file_url_names_the_directory_mail_is_written_to():
    code = "import kling_studio.settings as s; print(s.EMAIL_BACKEND, s.EMAIL_FILE_PATH)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env={**os.environ, "EMAIL_URL": "file:///var/mail/studio"},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.stdout.split() == ["django.core.mail.backends.filebased.EmailBackend", "/var/mail/studio"]
