"""The workers' steps, run by hand in the test process: the tick, then the stores it hands over."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection
from django.utils import timezone

from generations import poller
from generations.models import Generation
from generations.storing import store_files
from tests.conftest import wait_for


def make_due(*generations: Generation) -> None:
    Generation.objects.filter(pk__in=[g.pk for g in generations]).update(next_poll_at=timezone.now())


def tick() -> poller.TickReport:
    """One tick, then the store it handed over, as the worker's queues would run them."""
    report = poller.refresh_due()
    for generation in Generation.objects.at_service().exclude(video_url=""):
        store_files(generation.pk, generation.lease_token)
    return report


def tick_until_final(*generations: Generation, timeout: float = 60) -> list[Generation]:
    def all_final():
        tick()
        fresh = [Generation.objects.get(pk=g.pk) for g in generations]
        return fresh if all(g.is_final for g in fresh) else None

    return wait_for(all_final, timeout=timeout, message="the generations to finish")


def at_the_same_time(work: Callable[[], object], times: int = 2) -> list[object]:
    """Run `work` in `times` threads let go together, each on its own database connection;
    what each returned, in the order they finished (a thread that raised returns nothing)."""
    start, results = threading.Barrier(times), []

    def run() -> None:
        try:
            start.wait()
            results.append(work())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results
