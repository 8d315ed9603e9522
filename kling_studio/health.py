"""`GET /health/`: whether this studio can do its work, component by component, as JSON.

Required: the database, Redis (the broker, the cache, the live events), the media storage,
a worker, and beat's tick. Every worker says it is alive every ALIVE_INTERVAL seconds from
its own event loop (kling_studio/celery.py), not from a pool slot, so a worker whose every
slot waits on a slow API still says it; the mark lives HEALTH_WORKER_MAX_AGE seconds, so a
dead worker shows within that. The tick (every GENERATION_REFRESH_INTERVAL) stores a mark
that lives HEALTH_HEARTBEAT_MAX_AGE seconds, so a present mark proves that beat sends ticks
and a worker runs them; a slow API may hold a tick up to its lease, hence the longer life. Reported but
not required: the GMI API (a GET of the model's information, at most once in
API_PROBE_SECONDS per process), since nothing the studio holds is lost while it is away.

200 when every required component answers, else 503. Each check has a short timeout and
all run at once (django-health-check's checks and runner), so a component that hangs gives
an answer within seconds, not never; and each runs afresh, so a component back is seen at
the next probe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
import threading
import time

import redis.asyncio
from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from health_check.base import HealthCheck
from health_check.checks import Database, Storage
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis import RedisError

logger = logging.getLogger(__name__)

HEARTBEAT_KEY = "worker-heartbeat"  # in the cache, so under its key prefix
ALIVE_KEY = "worker-alive"
ALIVE_INTERVAL = 2.0  # seconds between two "alive" marks of a worker
API_PROBE_SECONDS = 30.0
API_PROBE_TIMEOUTS = (2.0, 3.0)  # connect, read: the check's own budget is 5 s
REDIS_TIMEOUT = 2.0


def record_heartbeat() -> None:
    """Called by each tick; one Redis write. A Redis away now is one the tick never came through."""
    _mark(HEARTBEAT_KEY, settings.HEALTH_HEARTBEAT_MAX_AGE)


def record_worker_alive() -> None:
    """Called by every worker's event loop each ALIVE_INTERVAL; one Redis write."""
    _mark(ALIVE_KEY, settings.HEALTH_WORKER_MAX_AGE)


def _mark(key: str, lifetime: float) -> None:
    with contextlib.suppress(RedisError):
        cache.set(key, time.time(), timeout=lifetime)


def seconds_since_last_tick() -> float | None:
    """None when no tick has run for HEALTH_HEARTBEAT_MAX_AGE seconds (the mark has expired)."""
    return _seconds_since(HEARTBEAT_KEY)


def _seconds_since(key: str) -> float | None:
    last = cache.get(key)
    return max(0.0, time.time() - last) if isinstance(last, float | int) else None


@dataclasses.dataclass
class RecentMark(HealthCheck):
    """Up while a mark that processes leave in Redis, and that expires on its own, is there."""

    key: str = ""
    kept: str = ""  # what the mark stands for, where Redis is named
    missing: str = ""  # what its absence means, in words
    reading: str = ""  # the name of its age in the report
    timeout = datetime.timedelta(seconds=REDIS_TIMEOUT * 2)
    detail: dict = dataclasses.field(default_factory=dict, repr=False)

    def run(self) -> None:
        try:
            age = _seconds_since(self.key)
        except RedisError as exc:
            raise ServiceUnavailable(f"Redis, where {self.kept}, cannot be reached") from exc
        if age is None:
            raise ServiceUnavailable(self.missing)
        self.detail[self.reading] = round(age, 1)


def worker_alive() -> RecentMark:
    return RecentMark(
        key=ALIVE_KEY,
        kept="the workers say they are alive",
        missing=f"no worker has said it is alive for {settings.HEALTH_WORKER_MAX_AGE:g} s: is one running?",
        reading="last_seen_seconds_ago",
    )


def tick_heartbeat() -> RecentMark:
    return RecentMark(
        key=HEARTBEAT_KEY,
        kept="the workers' heartbeat is kept",
        missing=f"no refresh tick has run for {settings.HEALTH_HEARTBEAT_MAX_AGE:g} s: is beat running, and a worker?",
        reading="last_tick_seconds_ago",
    )


@dataclasses.dataclass
class VideoAPI(HealthCheck):
    timeout = datetime.timedelta(seconds=sum(API_PROBE_TIMEOUTS))
    detail: dict = dataclasses.field(default_factory=dict, repr=False)

    def run(self) -> None:
        problem, checked_at = _api_probe()
        self.detail["checked_seconds_ago"] = round(time.monotonic() - checked_at, 1)
        if problem:
            raise ServiceUnavailable(problem)


_probe_lock = threading.Lock()
_last_probe: dict[tuple[str, str], tuple[float, str]] = {}


def _api_probe() -> tuple[str, float]:
    """('', when) if the API answered, else (what went wrong, when); asked again after API_PROBE_SECONDS."""
    from generations.gmi import GMIClient, GMIError, describe
    from generations.poller import fleet_pause_remaining

    where = (settings.GMI_API_BASE_URL, settings.GMI_API_KEY)
    with _probe_lock:
        checked_at, problem = _last_probe.get(where, (-API_PROBE_SECONDS, ""))
        if time.monotonic() - checked_at < API_PROBE_SECONDS:
            return problem, checked_at
        if (paused := fleet_pause_remaining()) > 0:  # no calls while the organisation is rate limited
            problem = f"The video service's rate limit was reached; the studio waits {paused:.0f} s."
        else:
            try:
                GMIClient.from_settings(timeouts=API_PROBE_TIMEOUTS).get_model()
                problem = ""
            except GMIError as exc:
                problem = describe(exc)
        checked_at = time.monotonic()
        _last_probe[where] = checked_at, problem
        return problem, checked_at


def _redis_client() -> redis.asyncio.Redis:
    return redis.asyncio.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
    )


@dataclasses.dataclass
class RedisPing(Redis):
    timeout = datetime.timedelta(seconds=REDIS_TIMEOUT)


def components() -> list[tuple[str, HealthCheck, bool]]:
    """(name, check, required), fresh for each probe."""
    return [
        ("database", Database(), True),
        ("redis", RedisPing(client_factory=_redis_client), True),
        ("storage", Storage(), True),
        ("worker", worker_alive(), True),
        ("tick", tick_heartbeat(), True),
        ("api", VideoAPI(), False),
    ]


class HealthView(HealthCheckView):
    """django-health-check's runner, with the studio's answer: JSON by component, and 503
    when a required component is down (an API that is away is only reported)."""

    async def get(self, request, *args, **kwargs):
        parts = components()
        with self.get_executor() as executor:
            results = await asyncio.gather(*(check.get_result(executor) for _, check, _ in parts))
        report, healthy = {}, True
        for (name, check, required), result in zip(parts, results, strict=True):
            healthy &= not (required and result.error)
            report[name] = {
                "status": "down" if result.error else "up",
                "required": required,
                "took_ms": round(result.time_taken * 1000, 1),
                **({"error": result.error.message} if result.error else {}),
                **getattr(check, "detail", {}),
            }
        _log_change({name for name, component in report.items() if component["status"] == "down"})
        response = JsonResponse(
            {"status": "up" if healthy else "down", "components": report}, status=200 if healthy else 503
        )
        # Django would log every 503 as an error, for each probe of an outage: the change of
        # state is logged instead, once (per process).
        response._has_been_logged = True
        return response


_down_before: set[str] = set()


def _log_change(down: set[str]) -> None:
    global _down_before
    if down != _down_before:
        if down:
            logger.warning("Health: %s down", ", ".join(sorted(down)))
        else:
            logger.info("Health: every component is up again")
        _down_before = down
