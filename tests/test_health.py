"""`/health/`: each component's state as JSON; 503 when a required one is down, 200 again once it is back.

The components are the real ones: the test database, the test Redis (stopped and started
again here), the media storage, a worker's "alive" mark (said by a real worker, or here in
its place), beat's tick (the tick itself, run here or by a real beat and worker), and the
emulated API.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from django.core.cache import cache

from generations.tasks import refresh_due_generations
from kling_studio.health import HEARTBEAT_KEY, record_worker_alive
from kling_studio.localservices import free_port
from tests.conftest import CeleryFactory, wait_for

pytestmark = pytest.mark.django_db

COMPONENTS = {"database", "redis", "storage", "worker", "tick", "api"}
DOWN_WITHIN = 10.0  # seconds, the bounds
UP_AGAIN_WITHIN = 30.0


def health(client) -> tuple[int, dict]:
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def workers_alive() -> None:
    """What a running worker and beat leave in Redis: a worker's "alive" mark, and a tick."""
    record_worker_alive()
    refresh_due_generations()


def test_it_answers_200_listing_every_component_when_all_is_up(client, studio_api):
    workers_alive()
    status, body = health(client)
    assert status == 200, body
    assert body["status"] == "up"
    assert set(body["components"]) == COMPONENTS
    for name, component in body["components"].items():
        assert component["status"] == "up", (name, component)
        assert component["required"] is (name != "api")
        assert "error" not in component
    assert body["components"]["tick"]["last_tick_seconds_ago"] < 30
    assert body["components"]["worker"]["last_seen_seconds_ago"] < 8


def test_it_needs_no_log_in_and_is_never_cached(client, studio_api):
    workers_alive()
    response = client.get("/health/")
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]


def test_it_answers_503_when_no_tick_has_run_lately(client, studio_api, settings):
    cache.delete(HEARTBEAT_KEY)
    settings.HEALTH_HEARTBEAT_MAX_AGE = 2
    workers_alive()
    wait_for(lambda: health(client)[0] == 503, timeout=15, message="the heartbeat to go stale")
    status, body = health(client)
    assert (status, body["status"]) == (503, "down")
    tick = body["components"]["tick"]
    assert tick["status"] == "down"
    assert "no refresh tick has run for 2 s" in tick["error"]
    assert all(body["components"][name]["status"] == "up" for name in COMPONENTS - {"tick"})

    settings.HEALTH_HEARTBEAT_MAX_AGE = 60
    workers_alive()
    assert health(client)[0] == 200


def test_an_api_that_cannot_be_reached_is_reported_but_the_studio_stays_healthy(client, studio_api, settings):
    workers_alive()
    settings.GMI_API_BASE_URL = f"https://127.0.0.1:{free_port()}/api/v1/apikey"  # the emulator stopped
    status, body = health(client)
    assert status == 200, body
    api = body["components"]["api"]
    assert api["status"] == "down" and api["required"] is False
    assert "could not be reached" in api["error"]
    assert studio_api.api_key not in str(body)


def test_an_api_that_refuses_the_key_is_reported_in_words(client, studio_api, settings):
    workers_alive()
    settings.GMI_API_KEY = "a-key-the-service-does-not-know"
    status, body = health(client)
    assert status == 200
    assert body["components"]["api"]["error"] == (
        "The video service refused the studio's API key; an administrator needs to check it."
    )
    assert "a-key-the-service-does-not-know" not in str(body)


def test_a_redis_that_hangs_gives_503_not_a_hang(client, studio_api, redis_server):
    """Stopped with SIGSTOP, Redis takes connections and never answers: the checks' own
    timeouts give the answer."""
    workers_alive()
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        asked = time.monotonic()
        status, body = health(client)
        answered = time.monotonic()
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    print(f"503 in {answered - asked:.1f} s from a hung Redis")
    assert status == 503
    assert answered - asked <= DOWN_WITHIN
    assert body["components"]["redis"]["status"] == "down"
    assert body["components"]["database"]["status"] == "up"
    wait_for(lambda: health(client)[0] == 200, timeout=UP_AGAIN_WITHIN, message="Redis to answer again")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_it_answers_503_while_redis_is_down_and_200_soon_after_it_is_back(redis_server, beat, studio_server):
    """With a real worker and beat: the heartbeat is lost with Redis (it keeps nothing across
    a restart here), so 200 again means beat and the worker came back too."""
    url = f"{studio_server.url}/health/"

    def answer() -> tuple[float, requests.Response]:
        response = requests.get(url, timeout=30)
        return time.monotonic(), response

    wait_for(lambda: answer()[1].status_code == 200, timeout=30, message="the first tick")
    redis_server.stop()
    try:
        stopped = time.monotonic()
        down_at, down = wait_for(lambda: (seen := answer())[1].status_code == 503 and seen, timeout=DOWN_WITHIN)
        assert down_at - stopped <= DOWN_WITHIN
        components = down.json()["components"]
        assert components["redis"]["status"] == "down" and components["worker"]["status"] == "down"
        assert components["database"]["status"] == "up"
    finally:
        redis_server.start()
    started = time.monotonic()
    up_at, _ = wait_for(lambda: (seen := answer())[1].status_code == 200 and seen, timeout=UP_AGAIN_WITHIN)
    assert up_at - started <= UP_AGAIN_WITHIN
    print(f"503 {down_at - stopped:.1f} s after Redis stopped; 200 {up_at - started:.1f} s after it started")


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_shows_within_10_s_even_while_beats_tick_is_still_fresh(
    worker_factory, redis_server, studio_server, settings
):
    """A real worker says it is alive from its event loop; SIGKILLed, it stops. Its own Redis
    database keeps any other test's worker out of what /health/ sees."""
    own = f"redis://127.0.0.1:{redis_server.port}/5"
    settings.REDIS_URL = own
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": own}}
    cache.clear()
    worker = CeleryFactory({**worker_factory.env, "REDIS_URL": own})()

    def probe() -> tuple[int, dict]:  # through uvicorn: a transactional test runs after the browser's
        response = requests.get(f"{studio_server.url}/health/", timeout=30)
        return response.status_code, response.json()

    try:
        refresh_due_generations()  # beat's tick, fresh for a minute: only the worker is missing
        wait_for(lambda: probe()[0] == 200, timeout=15, message="the worker's first alive mark")
        worker.kill()
        killed = time.monotonic()
        wait_for(lambda: probe()[0] == 503, timeout=DOWN_WITHIN, message="the dead worker to show")
        print(f"503 {time.monotonic() - killed:.1f} s after the worker was SIGKILLed")
        status, body = probe()
        assert status == 503
        assert body["components"]["worker"]["status"] == "down"
        assert "no worker has said it is alive for 8 s" in body["components"]["worker"]["error"]
        assert body["components"]["tick"]["status"] == "up"
    finally:
        worker.stop()
        cache.clear()
