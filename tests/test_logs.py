"""Log lines: JSON in production, each line about a generation carrying its id, its team and
the request's id; the request's id comes back in `X-Request-ID`; no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests
from django.urls import reverse

from generations.models import Generation
from generations.tasks import submit_generation
from kling_studio.localservices import BASE_DIR
from kling_studio.observability import ContextFilter, JsonFormatter
from tests.conftest import CeleryProcess, wait_for
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

VALID = {"prompt": "A lighthouse at dusk", "duration": "5", "aspect_ratio": "16:9", "cfg_scale": "0.5"}


class Captured:
    def __init__(self):
        self.stream = io.StringIO()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def logged() -> Iterator[Captured]:
    """What the root logger writes through the production formatter and filter."""
    captured = Captured()
    handler = logging.StreamHandler(captured.stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield captured
    root.removeHandler(handler)
    root.setLevel(level)


def test_a_task_s_lines_carry_the_generation_and_its_team_and_no_more_after_it(studio_api, ada, logged):
    generation = make_generation(ada)
    submit_generation(generation.pk)
    logging.getLogger("tests").info("after the task")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    lines = logged.lines()
    sent = next(line for line in lines if line["message"].startswith(f"Generation {generation.pk} sent as request"))
    assert (sent["generation_id"], sent["team_id"]) == (generation.pk, generation.team_id)
    assert sent["level"] == "INFO" and sent["logger"] == "generations.tasks" and sent["time"]
    call = next(line for line in lines if line["message"].startswith("GMI POST /requests -> 200"))
    assert call["generation_id"] == generation.pk  # the client's own line, inside the task
    after = next(line for line in lines if line["message"] == "after the task")
    assert "generation_id" not in after and "team_id" not in after


def test_a_request_s_lines_carry_its_id_which_comes_back_in_the_response(client, ada, logged):
    client.force_login(ada)
    response = client.post(reverse("generations:create"), VALID, HTTP_X_REQUEST_ID="req-42.from-the-proxy")
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-42.from-the-proxy"
    generation = Generation.objects.get()
    created = next(line for line in logged.lines() if line["message"].startswith("Generation"))
    assert created["message"] == f"Generation {generation.pk} created by user {ada.pk}"
    assert created["request_id"] == "req-42.from-the-proxy"
    assert (created["generation_id"], created["team_id"]) == (generation.pk, generation.team_id)


@pytest.mark.django_db(transaction=True)
def test_under_the_asgi_server_the_request_id_comes_back_too(studio_server):
    response = requests.get(f"{studio_server.url}/accounts/login/", headers={"X-Request-ID": "probe-7"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "probe-7"


@pytest.mark.parametrize("given", [None, "", "two words", "a" * 129, "line\\nbreak", "{json}", "ü-id"])
def test_a_request_without_a_sane_id_gets_one_made_up(client, given):
    headers = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    response = client.get(reverse("login"), **headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert client.get(reverse("login"), **headers)["X-Request-ID"] != response["X-Request-ID"]


def log_in_a_fresh_process(**env: str) -> str:
    code = """if True:
        import logging, django
        django.setup()
        from kling_studio.observability import log_context
        with log_context(generation_id=7, team_id=3, request_id="req-1"):
            logging.getLogger("generations.tasks").warning(
                "Calling with %s, and the broker at %s", "sk-live-0123456789abcdef", "redis://:hunter2@redis.internal:6379/0"
            )
        logging.getLogger("generations.tasks").warning("Nothing in particular")
    """
    base = {name: value for name, value in os.environ.items() if not name.startswith(("LOG_", "DEBUG", "SENTRY_"))}
    env = {**base, "DJANGO_SETTINGS_MODULE": "kling_studio.settings", "GMI_API_KEY": "sk-live-0123456789abcdef", **env}
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stderr


def test_in_production_lines_are_json_with_their_context_and_no_secrets():
    output = log_in_a_fresh_process(DEBUG="False", SECRET_KEY="a-production-secret-key-of-some-length")
    about, plain = (json.loads(line) for line in output.splitlines())
    assert about["level"] == "WARNING" and about["logger"] == "generations.tasks"
    assert (about["generation_id"], about["team_id"], about["request_id"]) == (7, 3, "req-1")
    assert about["message"] == "Calling with ********, and the broker at redis://:********@redis.internal:6379/0"
    assert "generation_id" not in plain and "request_id" not in plain
    assert "sk-live-0123456789abcdef" not in output and "hunter2" not in output


def test_in_development_lines_are_text_unless_json_is_asked_for():
    text = log_in_a_fresh_process(DEBUG="True").splitlines()
    assert text[0].endswith(
        "WARNING generations.tasks Calling with ********, and the broker at "
        "redis://:********@redis.internal:6379/0 [generation=7 team=3 request=req-1]"
    )
    assert text[1].endswith("WARNING generations.tasks Nothing in particular")
    assert json.loads(log_in_a_fresh_process(DEBUG="True", LOG_FORMAT="json").splitlines()[0])["team_id"] == 3


def test_a_bad_log_format_stops_the_process_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "-c", "import kling_studio.settings"], cwd=BASE_DIR, capture_output=True, text=True,
        env={**os.environ, "LOG_FORMAT": "yaml"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "LOG_FORMAT must be one of text, json, not 'yaml'" in result.stderr


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_writes_json_lines_about_the_generation_it_sends(worker_factory, studio_api, ada):
    """A worker of its own, on a queue of its own, so that no other worker takes the task."""
    worker = CeleryProcess(
        {**worker_factory.env, "LOG_FORMAT": "json", "DEBUG": "True"},
        ["worker", "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "--queues", "json-logs"],
        b"ready.",
    ).start()  # fmt: skip
    try:
        generation = make_generation(ada, prompt="A worker that writes JSON")
        submit_generation.apply_async((generation.pk,), queue="json-logs")

        def sent_line() -> dict | None:
            for line in worker.output().splitlines():
                if line.startswith("{") and f"Generation {generation.pk} sent" in line:
                    return json.loads(line)
            return None

        sent = wait_for(sent_line, timeout=60, message="the worker's line about the generation")
    finally:
        worker.stop()
    assert (sent["generation_id"], sent["team_id"], sent["logger"]) == (
        generation.pk,
        generation.team_id,
        "generations.tasks",
    )
    ready = next(json.loads(line) for line in worker.output().splitlines() if "ready." in line)
    assert ready["level"] == "INFO"  # Celery's own lines too: the worker logs through the studio's settings
