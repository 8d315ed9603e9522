"""Real parts for the tests: a Redis server, the API emulator, a Celery worker.

Only the outside world is stood in for, by the emulator, spoken to over real HTTP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from django.test import override_settings

from kling_studio import celery_app
from kling_studio.localservices import BASE_DIR, free_port, start_redis

if TYPE_CHECKING:
    from gmi_emulator.testing import EmulatorProcess

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests
# make beside it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "1")

# Worker timings for tests: fast polls, a short lease so a dead worker's claim runs out
# within a test, and a visibility timeout that keeps the settings' safety check happy.
WORKER_SETTINGS = {
    "GENERATION_POLL_INTERVAL": 0.3,
    "GENERATION_POLL_MAX_INTERVAL": 1.0,
    "GENERATION_SUBMIT_LEASE": 3.0,
    "GENERATION_DEADLINE": 120.0,
}


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    port = free_port()
    process = start_redis(port, tmp_path_factory.mktemp("redis"))
    url = f"redis://127.0.0.1:{port}/0"
    celery_app.conf.broker_url = url
    yield url
    process.terminate()
    process.wait(10)


@pytest.fixture(scope="session")
def media_root(tmp_path_factory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("media")
    with override_settings(MEDIA_ROOT=root):
        yield root


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    from gmi_emulator.testing import EmulatorProcess

    with EmulatorProcess(api_key="test-key", queue_seconds=0.3, processing_seconds=2.0) as process:
        yield process


@pytest.fixture(autouse=True)
def _test_environment(redis_url, media_root, settings) -> None:
    """Every test: Redis as the broker, files in a temporary media root, quick hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def studio_api(emulator) -> Iterator[EmulatorProcess]:
    """The emulator, fresh, with the studio's settings pointing at it."""
    emulator.reset()
    with override_settings(GMI_API_BASE_URL=emulator.base_url, GMI_API_KEY=emulator.api_key, **WORKER_SETTINGS):
        yield emulator


class Worker:
    """A real `celery worker` process on the test database, Redis and emulator."""

    def __init__(self, env: dict[str, str], queue: str | None = None):
        self.env = env
        self.queue = queue
        self.process: subprocess.Popen | None = None
        self.log = Path(env["MEDIA_ROOT"]).parent / f"worker-{time.monotonic_ns()}.log"

    def start(self) -> Worker:
        command = [sys.executable, "-m", "celery", "-A", "kling_studio", "worker", "--loglevel=INFO"]
        command += ["--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        if self.queue:
            command += ["--queues", self.queue]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while b"ready." not in self.log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"The Celery worker did not start:\n{self.output()}")
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
    django_db_setup, django_db_blocker, redis_url, media_root, emulator
) -> Iterator[Callable[..., Worker]]:
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
        "CELERY_VISIBILITY_TIMEOUT": "60",
        "PYTHONUNBUFFERED": "1",
        **{name: str(value) for name, value in WORKER_SETTINGS.items()},
    }
    workers: list[Worker] = []

    def start(queue: str | None = None) -> Worker:
        workers.append(Worker(env, queue).start())
        return workers[-1]

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture(scope="session")
def celery_worker(worker_factory) -> Worker:
    """One worker for the whole session, for tests that need tasks to run."""
    return worker_factory()


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
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
