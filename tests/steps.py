"""The workers' steps, run by hand in the test process: the tick, then the stores it hands over."""

from __future__ import annotations

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
