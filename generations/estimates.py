"""How long a new generation usually takes, from the team's own recent ones.

An in-progress card says "usually ready in about 2 min": the median time from creation to
finish of the team's last successful generations of the same duration. A page asks once per
duration it shows, whatever its number of cards: one query that reads the newest rows of the
team's (team, duration, created_at) index and stops at SAMPLE_SIZE successes. A team with too
few finished generations of that duration gets no estimate rather than a guess.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from generations.models import Generation

SAMPLE_SIZE = 20  # the last this many successes of a duration
SAMPLE_DAYS = 30  # and none older: the service's speed changes
MINIMUM_SAMPLE = 3  # fewer than this, and "usually" would be a guess


@dataclass(frozen=True)
class Estimate:
    typical: timedelta

    @property
    def words(self) -> str:
        """ "usually ready in about 2 min", "usually ready in under a minute"."""
        seconds = self.typical.total_seconds()
        if seconds < 60:
            return "usually ready in under a minute"
        minutes = round(seconds / 60)
        if minutes < 60:
            return f"usually ready in about {minutes} min"
        hours, minutes = divmod(minutes, 60)
        return f"usually ready in about {hours} h {minutes:02d} min" if minutes else f"usually ready in about {hours} h"

    def is_overdue(self, generation: Generation) -> bool:
        """Taking clearly longer than usual: half as long again."""
        return generation.elapsed() > self.typical * 1.5


def typical(team, duration: str) -> Estimate | None:
    """The team's estimate for one duration, or None with too few recent successes (one query)."""
    since = timezone.now() - timedelta(days=SAMPLE_DAYS)
    recent = (
        Generation.objects.for_team(team)
        .filter(duration=duration, status=Generation.Status.SUCCESS, created_at__gte=since, finished_at__isnull=False)
        .order_by("-created_at", "-pk")
        .values_list("created_at", "finished_at")[:SAMPLE_SIZE]
    )
    taken = [finished_at - created_at for created_at, finished_at in recent]
    return Estimate(statistics.median(taken)) if len(taken) >= MINIMUM_SAMPLE else None


def typical_durations(team) -> dict[str, Estimate]:
    """The team's estimate for each duration it has enough recent successes of."""
    found = {duration: typical(team, duration) for duration in Generation.Duration.values}
    return {duration: estimate for duration, estimate in found.items() if estimate is not None}


def for_request(request: HttpRequest, duration: str) -> Estimate | None:
    """The current team's estimate for `duration`, looked up once per request (cards ask one by one)."""
    if not hasattr(request, "_generation_estimates"):
        request._generation_estimates = {}
    known = request._generation_estimates
    if duration not in known:
        team = getattr(request, "team", None)
        known[duration] = typical(team, duration) if team else None
    return known[duration]
