"""Security settings that hold: log-in throttling, the Content-Security-Policy, no secrets on
the debug page, friendly error pages, and `check --deploy` clean with the README's settings."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

from kling_studio.localservices import BASE_DIR
from kling_studio.reporting import SecretsMaskingFilter

pytestmark = pytest.mark.django_db

PASSWORD = "a long enough password"


def log_in(client, username: str, password: str, address: str = "203.0.113.7"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_after_five_wrong_passwords_even_the_right_one_is_refused_for_a_while(client, django_user_model):
    django_user_model.objects.create_user("ada", password=PASSWORD)
    for _ in range(4):
        assert log_in(client, "ada", "guess").status_code == 200  # the form again, with its error
    assert log_in(client, "ada", "guess").status_code == 429  # the fifth
    locked = log_in(client, "ada", PASSWORD)
    assert locked.status_code == 429
    assert "Too many attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    assert log_in(client, "ada", PASSWORD, address="198.51.100.9").status_code == 302  # not from elsewhere


def test_a_success_forgets_the_failures_before_it(client, django_user_model):
    django_user_model.objects.create_user("bea", password=PASSWORD)
    for _ in range(4):
        log_in(client, "bea", "guess")
    assert log_in(client, "bea", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, "bea", "guess")
    assert log_in(client, "bea", PASSWORD).status_code == 302


def test_pages_carry_a_content_security_policy_allowing_only_the_studio_itself(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("cy"))
    policy = client.get(reverse("generations:create"))["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy


def test_a_missing_page_is_the_studios_own_and_so_is_a_server_error(client, settings):
    settings.DEBUG = False
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404 and "Nothing here" in missing.content.decode()
    crashed = server_error(RequestFactory().get("/"))
    assert crashed.status_code == 500 and "Nothing you made is lost" in crashed.content.decode()


def test_the_debug_page_masks_passwords_inside_urls(settings):
    settings.DATABASE_URL = "postgres://studio:hunter2@db.internal/studio"
    settings.REDIS_URL = "redis://:s3cret@redis.internal:6379/0"
    shown = SecretsMaskingFilter().get_safe_settings()
    assert "hunter2" not in str(shown) and "s3cret" not in str(shown)
    assert shown["DATABASE_URL"] == "postgres://studio:********************@db.internal/studio"
    meta = SecretsMaskingFilter().get_safe_request_meta(RequestFactory().get("/", DATABASE_URL="x://u:pw@h/d"))
    assert meta["DATABASE_URL"] == "x://u:********************@h/d"


def readme_production_environment() -> dict[str, str]:
    """The `export` lines of the README's "Running it for real", with its placeholders filled."""
    readme = (BASE_DIR / "README.md").read_text()
    recipe = readme.split("## Running it for real", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    env = {}
    for line in recipe.splitlines():
        if line.startswith("export "):
            for name, value in re.findall(r"(\w+)=(\S+)", line.split("#", 1)[0]):
                env[name] = value.replace("...", secrets.token_urlsafe(50))
    return env


def environment_of_a_deployment() -> dict[str, str]:
    """This process's environment, less what the test run itself sets (Playwright's need)."""
    return {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def test_check_deploy_is_clean_with_the_readmes_production_settings():
    env = readme_production_environment()
    assert {"DEBUG", "SECRET_KEY", "SECURE_HSTS_SECONDS", "SECURE_SSL_REDIRECT"} <= set(env)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR, env={**environment_of_a_deployment(), **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
