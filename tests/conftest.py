"""Real parts for the tests: a Redis server, the API emulator, a Celery worker, an S3 server.

Only the outside world is stood in for, by the emulator, spoken to over real HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from django.test import override_settings

from kling_studio import celery_app
from kling_studio.localservices import BASE_DIR, free_port, start_redis
from kling_studio.seaweedfs import LocalS3, SeaweedFSMissing
from tests.people import ada, outsider, owner, team, teammate  # noqa: F401 (the cast, for every test file)

if TYPE_CHECKING:
    from gmi_emulator.testing import EmulatorProcess

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make beside it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

# Worker timings for tests: short API timeouts, so that the shortest leases the settings
# allow run out within a test when a worker dies, and a fast tick.
WORKER_SETTINGS = {
    "GMI_CONNECT_TIMEOUT": 1.0,
    "GMI_READ_TIMEOUT": 3.0,
    "GMI_DOWNLOAD_TIMEOUT": 10.0,
    "GENERATION_REFRESH_INTERVAL": 0.5,
    "GENERATION_REFRESH_LEASE": 9.0,
    "GENERATION_SUBMIT_LEASE": 13.0,
    "GENERATION_DEADLINE": 120.0,
}


class RedisServer:
    """The tests' Redis, which a test may stop and start again on the same port."""

    def __init__(self, directory: Path):
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = start_redis(self.port, directory)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)

    def start(self) -> None:
        self.process = start_redis(self.port, self.directory)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    celery_app.conf.broker_url = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=root):
        yield root


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[LocalS3]:
    """A real S3-compatible server, SeaweedFS, with a bucket for the tests. A missing `weed`
    fails the test, never skips it."""
    try:
        server = LocalS3(tmp_path_factory.mktemp("seaweedfs"), bucket="kling-studio-test")
    except SeaweedFSMissing as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def object_storage(s3_server, settings) -> LocalS3:
    """The studio's files in the test bucket, emptied first, as with AWS_STORAGE_BUCKET_NAME set."""
    client = s3_server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_server.bucket):
        for entry in page.get("Contents", []):
            client.delete_object(Bucket=s3_server.bucket, Key=entry["Key"])
    for name, value in s3_server.environment().items():
        setattr(settings, name, value)
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "generations.objectstorage.MediaStorage"}}
    directives = {name: list(sources) for name, sources in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()}
    for name in ("img-src", "media-src"):
        directives[name].append(s3_server.endpoint_url)  # as settings.py allows the bucket's endpoint
    settings.CONTENT_SECURITY_POLICY = {**settings.CONTENT_SECURITY_POLICY, "DIRECTIVES": directives}
    return s3_server


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """The GMI API, emulated over HTTPS as the live service is served."""
    from gmi_emulator.testing import EmulatorProcess

    with EmulatorProcess(api_key="test-key", queue_seconds=0.3, processing_seconds=2.0, tls=True) as process:
        yield process


@pytest.fixture(scope="session")
def certificate(emulator) -> tuple[Path, Path, Path]:
    """The emulator's (certificate, key, CA): the studio trusts the CA through GMI_CA_BUNDLE,
    and a test's own servers may serve the same certificate."""
    return emulator.certificate


def trusting_the_emulator(certificate) -> dict[str, object]:
    """The settings under which the studio trusts the emulator's certificate and its address."""
    return {"GMI_CA_BUNDLE": str(certificate[2]), "GMI_ALLOW_PRIVATE_API_HOST": True}


@pytest.fixture(autouse=True)
def _test_environment(redis_url, media_root, settings) -> None:
    """Every test: the test Redis (broker, cache, live events), a temporary media root,
    quick hashing, and no fleet pause left over from another test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REDIS_URL = redis_url
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_url}}
    from django.core.cache import cache

    from generations.poller import PAUSE_KEY
    from kling_studio.observability import clear_context

    cache.delete(PAUSE_KEY)
    clear_context()  # what an earlier test's code logged about is not this test's


@pytest.fixture
def studio_api(emulator, certificate) -> Iterator[EmulatorProcess]:
    """The emulator, fresh, with the studio's settings pointing at it."""
    emulator.reset()
    with override_settings(
        GMI_API_BASE_URL=emulator.base_url,
        GMI_API_KEY=emulator.api_key,
        **trusting_the_emulator(certificate),
        **WORKER_SETTINGS,
    ):
        yield emulator


class CeleryProcess:
    """A real `celery worker` (or `celery beat`) process on the test database, Redis and emulator."""

    def __init__(self, env: dict[str, str], arguments: list[str], ready: bytes):
        self.env, self.arguments, self.ready = env, arguments, ready
        self.process: subprocess.Popen | None = None
        self.log = Path(env["MEDIA_ROOT"]).parent / f"celery-{time.monotonic_ns()}.log"

    def start(self) -> CeleryProcess:
        command = [sys.executable, "-m", "celery", "-A", "kling_studio", *self.arguments, "--loglevel=INFO"]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while self.ready not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery {self.arguments[0]} did not start:\n{self.output()}")
            time.sleep(0.1)
        return self

    def kill(self) -> None:
        """Die at once, as in a crash: no clean-up, no acknowledgements."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def test_database_url(database: dict) -> str:
    """The URL of the test database pytest-django made, for the worker processes."""
    if database["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{database['NAME']}"
    user, password = quote(database["USER"] or "", safe=""), quote(database["PASSWORD"] or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    return f"postgres://{credentials}{database['HOST']}:{database['PORT'] or 5432}/{database['NAME']}"


@pytest.fixture(scope="session")
def worker_factory(
    django_db_setup, django_db_blocker, redis_url, media_root, emulator, certificate
) -> Iterator[CeleryFactory]:
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = test_database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(media_root),
        "GMI_API_BASE_URL": emulator.base_url,
        "GMI_API_KEY": emulator.api_key,
        "CELERY_VISIBILITY_TIMEOUT": "300",
        "PYTHONUNBUFFERED": "1",
        **{name: str(value) for name, value in {**WORKER_SETTINGS, **trusting_the_emulator(certificate)}.items()},
    }
    factory = CeleryFactory(env)
    yield factory
    for process in factory.processes:
        process.stop()


class CeleryFactory:
    """Starts Celery processes on the test services; the fixture stops them at the end."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.processes: list[CeleryProcess] = []

    def __call__(self, queue: str | None = None) -> CeleryProcess:
        """A worker with the README's options; without `queue`, it serves all the studio's queues."""
        arguments = ["worker", "--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        return self._start(arguments + (["--queues", queue] if queue else []), b"ready.")

    def beat(self) -> CeleryProcess:
        schedule = Path(self.env["MEDIA_ROOT"]).parent / f"beat-{time.monotonic_ns()}"
        return self._start(["beat", "--schedule", str(schedule)], b"maxinterval")  # the end of its banner

    def _start(self, arguments: list[str], ready: bytes) -> CeleryProcess:
        self.processes.append(CeleryProcess(self.env, arguments, ready).start())
        return self.processes[-1]


@pytest.fixture(scope="session")
def celery_worker(worker_factory) -> CeleryProcess:
    """One worker for the whole session, for tests that need tasks to run."""
    return worker_factory()


@pytest.fixture
def beat(worker_factory, celery_worker) -> Iterator[CeleryProcess]:
    """Celery beat for one test: the fleet poller's tick, and recovery, as in production.

    Only tests that ask for it have ticks; others step the poller by hand undisturbed.
    """
    process = worker_factory.beat()
    yield process
    process.stop()


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Tasks the code under test queues run at once, in this process (Celery's eager mode)."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def submissions(api: EmulatorProcess, prompt: str) -> int:
    """How many times the emulator was asked to make a video of `prompt`."""
    return api.state()["submissions_by_prompt"].get(prompt, 0)


def wait_for(condition: Callable[[], object], timeout: float = 60, message: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:g} s waiting for {message}")
        time.sleep(0.1)


CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright. Missing Chromium fails the test, never skips it."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; `.ci/run` installs Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser):
    """Opens pages: each in a browser context of its own (a person), or beside `tab_of` (another
    tab of the same person), with Playwright's context options: `permissions=[...]`, or
    `viewport`, `has_touch`, `is_mobile` for a phone. The test fails if any page broke the
    Content-Security-Policy."""
    contexts, violations = [], []

    def open_one(tab_of=None, **context_options):
        if tab_of is None:
            contexts.append(browser.new_context(**context_options))
        page = (tab_of.context if tab_of else contexts[-1]).new_page()
        page.set_default_timeout(30_000)
        page.on(
            "console", lambda message: "Content Security Policy" in message.text and violations.append(message.text)
        )
        return page

    yield open_one
    for context in contexts:
        context.close()
    assert not violations, f"the Content-Security-Policy refused something: {violations}"


@pytest.fixture
def page(open_page):
    return open_page()


@pytest.fixture(scope="session")
def studio_server(django_db_setup, redis_url, media_root) -> Iterator[StudioServer]:
    """The studio under uvicorn, as `make run` serves it (ASGI: pages hold a live event
    stream), in a thread of this process so it shares the test database and settings."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            "kling_studio.asgi:application", host="127.0.0.1", port=port, lifespan="off", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), timeout=30, message="uvicorn to start")
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    yield StudioServer(f"http://127.0.0.1:{port}")
    server.should_exit = True
    thread.join(10)


@dataclass(frozen=True)
class StudioServer:
    url: str
