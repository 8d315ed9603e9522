"""How long a new generation usually takes, from the team's own recent ones.

An in-progress card says "usually ready in about 2 min": the median time from creation to
finish of the team's last successful generations of the same duration. A page asks once,
whatever the number of cards it shows (one query, every duration at once); a team with too
few finished generations of that duration gets no estimate rather than a guess.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import F, Window
from django.db.models.functions import RowNumber
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


def typical_durations(team) -> dict[str, Estimate]:
    """The team's estimate for each duration it has enough recent successes of (one query)."""
    since = timezone.now() - timedelta(days=SAMPLE_DAYS)
    newest_first = [F("created_at").desc(), F("pk").desc()]
    recent = (
        Generation.objects.for_team(team)
        .filter(status=Generation.Status.SUCCESS, created_at__gte=since, finished_at__isnull=False)
        .annotate(rank=Window(RowNumber(), partition_by=[F("duration")], order_by=newest_first))
        .filter(rank__lte=SAMPLE_SIZE)
        .values_list("duration", "created_at", "finished_at")
    )
    spans: dict[str, list[timedelta]] = {}
    for duration, created_at, finished_at in recent:
        spans.setdefault(duration, []).append(finished_at - created_at)
    return {
        duration: Estimate(statistics.median(taken))
        for duration, taken in spans.items()
        if len(taken) >= MINIMUM_SAMPLE
    }


def for_request(request: HttpRequest) -> dict[str, Estimate]:
    """The current team's estimates, looked up once per request (cards ask one by one)."""
    if not hasattr(request, "_generation_estimates"):
        team = getattr(request, "team", None)
        request._generation_estimates = typical_durations(team) if team else {}
    return request._generation_estimates
