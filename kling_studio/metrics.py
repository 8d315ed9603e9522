"""`GET /metrics`: the studio's figures in Prometheus' text format, for those allowed to scrape.

Workers run on other machines than the web processes that answer a scrape, so nothing a
worker counts may live in its own memory. The figures come from where every process can
read them, at the moment of the scrape:

* from the database: generations by status, how many are in flight, and how late the
  oldest refresh that is due is (the fleet poller's lag);
* from Redis, where the worker that made a call or ran a task adds it (one pipelined write):
  API calls by endpoint and outcome, the durations of submits and stores (histograms), and
  the time since beat's last tick ran on a worker.

Besides, django-prometheus's middleware counts this web process's requests and responses
(`django_http_*`): those are the answering process's own (see the README for several).
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

KEY_PREFIX = "kling-studio:metrics:"
API_CALLS_KEY = f"{KEY_PREFIX}gmi-api-requests"
REDIS_TIMEOUT = 0.5  # seconds: a metric waits this long at most, never the work it measures
QUIET_AFTER_FAILURE = 5.0  # seconds without writes after Redis failed one


@dataclass(frozen=True)
class Histogram:
    name: str
    documentation: str
    buckets: tuple[float, ...]

    @property
    def key(self) -> str:
        return f"{KEY_PREFIX}{self.name}"


SUBMIT_SECONDS = Histogram(
    "kling_generation_submit_seconds",
    "Time a submit task held a generation, from its claim to sent, failed or retry scheduled.",
    (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
STORE_SECONDS = Histogram(
    "kling_generation_store_seconds",
    "Time a store task took to copy a finished video and thumbnail into storage.",
    (0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
HISTOGRAMS = (SUBMIT_SECONDS, STORE_SECONDS)


# Recording, in whichever process does the work.


def count_api_call(endpoint: str, outcome: str) -> None:
    _write(lambda pipe: pipe.hincrby(API_CALLS_KEY, f"{endpoint}|{outcome}", 1))


def observe(histogram: Histogram, seconds: float, outcome: str) -> None:
    bucket = next((bound for bound in histogram.buckets if seconds <= bound), "+Inf")

    def record(pipe):
        pipe.hincrby(histogram.key, f"{outcome}|{bucket}", 1)
        pipe.hincrbyfloat(histogram.key, f"{outcome}|sum", seconds)
        pipe.hincrby(histogram.key, f"{outcome}|count", 1)

    _write(record)


_quiet_until = 0.0


def _write(commands) -> None:
    """One round trip to Redis; a Redis that is away costs a figure, never the work measured."""
    global _quiet_until
    if time.monotonic() < _quiet_until:
        return
    try:
        pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
        commands(pipe)
        pipe.execute()
    except redis.RedisError as exc:
        _quiet_until = time.monotonic() + QUIET_AFTER_FAILURE
        logger.warning("Could not record a metric in Redis (%s); not trying for %.0f s", exc, QUIET_AFTER_FAILURE)


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


# Reading, at the scrape.


class StudioCollector(Collector):
    def collect(self) -> Iterator:
        up = GaugeMetricFamily("kling_metrics_source_up", "Whether the scrape could read a source.", labels=["source"])
        for source, figures in (("database", _database_figures), ("redis", _redis_figures)):
            try:
                yield from figures()
            except (DatabaseError, redis.RedisError) as exc:
                logger.warning("Metrics: could not read the %s (%s)", source, exc)
                up.add_metric([source], 0)
            else:
                up.add_metric([source], 1)
        yield up


def _database_figures() -> list:
    from generations.models import Generation

    now = timezone.now()
    counts = dict(Generation.objects.order_by().values_list("status").annotate(n=Count("pk")))
    oldest_due = Generation.objects.due_for_refresh(now).order_by().aggregate(oldest=Min("next_poll_at"))["oldest"]
    by_status = GaugeMetricFamily("kling_generations", "Generations by status.", labels=["status"])
    for status in Generation.Status.values:
        by_status.add_metric([status], counts.get(status, 0))
    in_flight = sum(counts.get(status, 0) for status in Generation.UNFINISHED)
    lag = (now - oldest_due).total_seconds() if oldest_due else 0.0
    return [
        by_status,
        GaugeMetricFamily(
            "kling_generations_in_flight", "Generations not finished: waiting, sending, queued or processing.",
            value=in_flight,
        ),
        GaugeMetricFamily(
            "kling_generations_oldest_due_refresh_seconds",
            "How long the generation longest due for a refresh has waited for one (0 when none is due).",
            value=max(lag, 0.0),
        ),
    ]  # fmt: skip


def _redis_figures() -> list:
    from kling_studio.health import seconds_since_last_tick

    pipe = _client(settings.REDIS_URL).pipeline(transaction=False)
    pipe.hgetall(API_CALLS_KEY)
    for histogram in HISTOGRAMS:
        pipe.hgetall(histogram.key)
    calls, *histograms = pipe.execute()
    api = CounterMetricFamily(
        "kling_gmi_api_requests", "Calls to the GMI API by endpoint and outcome.", labels=["endpoint", "outcome"]
    )
    for field, count in sorted(calls.items()):
        endpoint, _, outcome = field.decode().partition("|")
        api.add_metric([endpoint, outcome], int(count))
    figures = [api, *(_histogram(h, fields) for h, fields in zip(HISTOGRAMS, histograms, strict=True))]
    if (age := seconds_since_last_tick()) is not None:
        figures.append(
            GaugeMetricFamily(
                "kling_worker_last_tick_seconds", "Seconds since beat's last refresh tick ran on a worker.", value=age
            )
        )
    return figures


def _histogram(histogram: Histogram, fields: dict[bytes, bytes]) -> HistogramMetricFamily:
    """Prometheus' cumulative buckets from the per-bucket counts kept in Redis."""
    family = HistogramMetricFamily(histogram.name, histogram.documentation, labels=["outcome"])
    values = {key.decode(): value.decode() for key, value in fields.items()}
    for outcome in sorted({key.partition("|")[0] for key in values}):
        running, buckets = 0, []
        for bound in histogram.buckets:
            running += int(values.get(f"{outcome}|{bound}", 0))
            buckets.append((str(float(bound)), running))
        buckets.append(("+Inf", int(values.get(f"{outcome}|count", 0))))
        family.add_metric([outcome], buckets, float(values.get(f"{outcome}|sum", 0)))
    return family


STUDIO_REGISTRY = CollectorRegistry(auto_describe=False)
STUDIO_REGISTRY.register(StudioCollector())


def process_figures() -> bytes:
    """This process's own metrics (django-prometheus's, the Python process's); all the web
    processes' together when prometheus_client's multiprocess mode is on."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


# Who may scrape.


def may_scrape(request: HttpRequest) -> bool:
    """With METRICS_TOKEN, whoever sends it as a Bearer token; with METRICS_ALLOWED_NETWORKS,
    whoever comes from one of them; with neither, only this machine (loopback)."""
    token = settings.METRICS_TOKEN
    if token and hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if settings.METRICS_ALLOWED_NETWORKS:
        return any(address in network for network in settings.METRICS_ALLOWED_NETWORKS)
    return not token and address.is_loopback


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")
    body = process_figures() + generate_latest(STUDIO_REGISTRY)
    return HttpResponse(body, content_type=CONTENT_TYPE_PLAIN_0_0_4)
