"""Sentry: errors are sent when SENTRY_DSN is set, without secrets or personal data; nothing is
set up when it is not. The Sentry server is a small HTTP server of the test's, collecting envelopes."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from kling_studio.localservices import BASE_DIR, free_port, wait_for_port
from tests.conftest import CeleryFactory, wait_for

API_KEY = "sk-live-0123456789abcdef-never-to-be-sent"
SESSION = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4"


class SentryServer:
    """Takes envelopes at /api/<project>/envelope/ and keeps their bodies, uncompressed."""

    def __init__(self):
        self.envelopes: list[bytes] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                if self.path.startswith("/api/42/envelope/"):
                    server.envelopes.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://publickey@127.0.0.1:{self.http.server_port}/42"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def sentry_server() -> Iterator[SentryServer]:
    server = SentryServer()
    yield server
    server.close()


def environment(**env: str) -> dict[str, str]:
    base = {name: value for name, value in os.environ.items() if not name.startswith(("SENTRY_", "DJANGO_ALLOW"))}
    return {**base, "GMI_API_KEY": API_KEY, **env}


def sentry_is_set_up(**env: str) -> bool:
    code = "import django, sentry_sdk; django.setup(); print(sentry_sdk.is_initialized())"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, capture_output=True, text=True, timeout=60,
        env={**environment(**env), "DJANGO_SETTINGS_MODULE": "kling_studio.settings"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-1] == "True"


def test_without_a_dsn_sentry_is_not_set_up():
    assert not sentry_is_set_up()


def test_with_a_dsn_sentry_is_set_up(sentry_server):
    assert sentry_is_set_up(SENTRY_DSN=sentry_server.dsn)


def test_a_dsn_that_is_not_one_stops_the_process_naming_the_variable():
    result = subprocess.run(
        [sys.executable, "-c", "import kling_studio.settings"], cwd=BASE_DIR, capture_output=True, text=True,
        env=environment(SENTRY_DSN="sentry.example.com"),
    )  # fmt: skip
    assert result.returncode != 0
    assert "SENTRY_DSN is not a Sentry DSN" in result.stderr


def test_an_exception_in_a_view_is_reported_without_secrets(sentry_server, tmp_path: Path):
    """The studio under uvicorn, on a database that has no tables: a page that reads the
    session fails, for real, and Sentry hears of it."""
    port = free_port()
    env = environment(
        SENTRY_DSN=sentry_server.dsn,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    command = [sys.executable, "-m", "uvicorn", "kling_studio.asgi:application", "--port", str(port)]
    command += ["--lifespan", "off"]  # as the README runs it
    with open(tmp_path / "uvicorn.log", "wb") as log:
        server = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, server, "uvicorn")
        response = requests.get(f"http://127.0.0.1:{port}/", cookies={"sessionid": SESSION}, timeout=30)
        assert response.status_code == 500
        wait_for(lambda: [e for e in sentry_server.envelopes if b"OperationalError" in e], timeout=30)
    finally:
        server.terminate()
        server.wait(20)
    (event,) = [e for e in sentry_server.envelopes if b'"exception"' in e]  # this error, and nothing else
    assert b"OperationalError" in event and b"no such table: django_session" in event
    assert b'"environment":"development"' in event.replace(b" ", b"")
    assert API_KEY.encode() not in event  # nor in any other envelope
    assert not any(API_KEY.encode() in e or SESSION.encode() in e for e in sentry_server.envelopes)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_task_that_fails_in_a_worker_is_reported_without_secrets(sentry_server, worker_factory, redis_server):
    """A real worker with SENTRY_DSN set, given a malformed task (an id that is not a number),
    fails it for real, and Sentry hears which task failed. The worker has a Redis database
    of its own, so no other test's worker takes the task."""
    from kling_studio.celery import app

    broker = f"redis://127.0.0.1:{redis_server.port}/7"
    env = {**worker_factory.env, "REDIS_URL": broker, "SENTRY_DSN": sentry_server.dsn, "GMI_API_KEY": API_KEY}
    worker = CeleryFactory({name: value for name, value in env.items() if name != "SENTRY_ENVIRONMENT"})()
    try:
        with app.connection_for_write(broker) as connection:
            app.send_task("generations.tasks.submit_generation", args=["not-a-number"], connection=connection)
        wait_for(lambda: task_failures(sentry_server), timeout=30, message="the task's failure in Sentry")
    finally:
        worker.stop()
    assert not any(API_KEY.encode() in e for e in sentry_server.envelopes)


def task_failures(sentry_server: SentryServer) -> list[bytes]:
    """The envelopes that report a ValueError in the task submit_generation (a worker may also
    report the same failure through its error log line)."""
    return [
        e for e in sentry_server.envelopes
        if b'"exception"' in e and b"ValueError" in e and b"generations.tasks.submit_generation" in e
    ]  # fmt: skip
