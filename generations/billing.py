"""Cost and budgets: what a generation costs, what a team has spent, and the monthly budget.

Prices are the operator's, per request and duration (GMI_PRICES in settings). A generation
is charged once, when the service accepts its request (its request id is recorded), at the
price in force then; a submit the service refused costs nothing. A charge outlives its
generation: deleting a video does not give back what it cost.

A team's owner may set a monthly budget (calendar months, in the studio's time zone). A new
generation is refused when what the team was charged this month, plus what it has waiting
to be sent (those will be charged), plus the new one's price would go past the budget. The
check and the saving of the new row hold the team's row locked (on SQLite the write lock
every transaction takes first), so two submits at the edge are decided one after the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models, transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

if TYPE_CHECKING:
    from accounts.models import Team
    from generations.models import Generation

ZERO = Decimal("0")
CENT = Decimal("0.01")


def price_of(duration: str) -> Decimal:
    """What one request of this duration costs now."""
    return settings.GMI_PRICES[duration]


def money(amount: Decimal) -> str:
    """An amount as people read it: "$0.30", "$1,250.00"; more decimals only where a price has them."""
    amount = Decimal(amount)
    shown = f"{amount:,.2f}" if amount == amount.quantize(CENT) else f"{amount.normalize():,f}"
    currency = settings.GMI_PRICE_CURRENCY
    return f"{currency}{' ' if currency[-1].isalpha() else ''}{shown}"


def price_list() -> str:
    """Every duration's price, in words: "5 seconds $0.30, 10 seconds $0.60"."""
    durations = sorted(settings.GMI_PRICES, key=int)
    return ", ".join(f"{duration} seconds {money(settings.GMI_PRICES[duration])}" for duration in durations)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in the studio's time zone, written as in the usage page's URL: 2026-11."""

    year: int
    month: int

    @classmethod
    def current(cls) -> Month:
        now = timezone.localtime()
        return cls(now.year, now.month)

    @classmethod
    def parse(cls, text: str) -> Month | None:
        """The month `text` names ("2026-11"); None for anything else."""
        found = re.fullmatch(r"(\d{4})-(\d{2})", text, re.ASCII)
        if not found:
            return None
        year, month = int(found[1]), int(found[2])
        return cls(year, month) if 2000 <= year <= 2999 and 1 <= month <= 12 else None

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return date(self.year, self.month, 1).strftime("%B %Y")

    @property
    def start(self) -> datetime:
        return timezone.make_aware(datetime(self.year, self.month, 1))

    @property
    def end(self) -> datetime:
        return self.next.start

    @property
    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    @property
    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)


class ChargeQuerySet(models.QuerySet["Charge"]):
    def for_team(self, team: Team) -> ChargeQuerySet:
        return self.filter(team=team)

    def in_month(self, month: Month) -> ChargeQuerySet:
        return self.filter(created_at__gte=month.start, created_at__lt=month.end)

    def total(self) -> Decimal:
        return self.aggregate(total=Sum("amount"))["total"] or ZERO

    def by_member(self) -> list[dict]:
        """Each person's count and amount, the biggest spender first; a deleted account's as None."""
        rows = self.values("created_by__username").annotate(count=Count("pk"), amount=Sum("amount"))
        return list(rows.order_by("-amount", "created_by__username"))

    def by_day(self) -> list[dict]:
        days = self.annotate(day=TruncDate("created_at")).values("day")
        return list(days.annotate(count=Count("pk"), amount=Sum("amount")).order_by("day"))


class Charge(models.Model):
    """What one generation cost: the price in force when the service accepted its request."""

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="charges")
    generation = models.OneToOneField(
        "generations.Generation", on_delete=models.SET_NULL, null=True, blank=True, related_name="charge"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    duration = models.CharField(max_length=2)
    amount = models.DecimalField(max_digits=10, decimal_places=4)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ChargeQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["team", "created_at"], name="charge_team_created")]

    def __str__(self) -> str:
        return f"{money(self.amount)} for generation {self.generation_id}"


def charge(generation: Generation) -> Charge:
    """Record what `generation` cost, once: the service has just accepted its request."""
    recorded, _ = Charge.objects.get_or_create(
        generation=generation,
        defaults={
            "team_id": generation.team_id,
            "created_by_id": generation.created_by_id,
            "duration": generation.duration,
            "amount": price_of(generation.duration),
        },
    )
    return recorded


def waiting_to_be_charged(team: Team) -> Decimal:
    """The price of the team's generations not yet sent: each is charged once the service accepts it."""
    from generations.models import Generation

    unsent = Generation.objects.for_team(team).filter(
        status__in=(Generation.Status.PENDING, Generation.Status.SUBMITTING), request_id__isnull=True
    )
    counts = unsent.values("duration").annotate(count=Count("pk")).order_by()
    priced = [row for row in counts if row["duration"] in settings.GMI_PRICES]  # rows made by other code may not be
    return sum((price_of(row["duration"]) * row["count"] for row in priced), ZERO)


class OverBudget(Exception):
    """A generation that would take its team past the monthly budget; the message says so, in words."""


def budget_refusal(team: Team, duration: str) -> str | None:
    """Why a new generation of `duration` may not be made in `team` this month; None when it may."""
    budget = team.monthly_budget
    if budget is None:
        return None
    spent = Charge.objects.for_team(team).in_month(Month.current()).total()
    waiting = waiting_to_be_charged(team)
    price = price_of(duration)
    if spent + waiting + price <= budget:
        return None
    nothing_sent = "Nothing was sent. An owner of the team can raise the budget on the team's usage page."
    committed = f"{money(spent)} spent this month" + (f", {money(waiting)} more on its way" if waiting else "")
    if spent + waiting >= budget:
        return f"Your team's monthly budget of {money(budget)} is used up ({committed}). {nothing_sent}"
    return (
        f"This {duration}-second video ({money(price)}) would go past your team's monthly budget of "
        f"{money(budget)} ({committed}). {nothing_sent}"
    )


def save_within_budget(generation: Generation) -> None:
    """Save a new generation, unless it would take its team past the monthly budget: then
    raise OverBudget and save nothing (so nothing is sent).

    The team's row stays locked from the check to the save: a second submit at the edge of
    the budget waits, then counts the first among those waiting to be charged.
    """
    from accounts.models import Team

    with transaction.atomic():
        team = Team.objects.select_for_update().get(pk=generation.team_id)
        if refusal := budget_refusal(team, generation.duration):
            raise OverBudget(refusal)
        generation.save()


@dataclass(frozen=True)
class Usage:
    """A team's month: the total, by member, by day, and the budget beside it."""

    month: Month
    total: Decimal
    count: int
    by_member: list[dict]
    by_day: list[dict]
    budget: Decimal | None
    waiting: Decimal  # this month only: not yet charged, but on its way

    @property
    def is_current(self) -> bool:
        return self.month == Month.current()

    @property
    def left(self) -> Decimal | None:
        return None if self.budget is None else max(self.budget - self.total - self.waiting, ZERO)


def usage_of(team: Team, month: Month) -> Usage:
    charges = Charge.objects.for_team(team).in_month(month)
    by_day = charges.by_day()
    current = month == Month.current()
    return Usage(
        month=month,
        total=sum((row["amount"] for row in by_day), ZERO),
        count=sum(row["count"] for row in by_day),
        by_member=charges.by_member(),
        by_day=by_day,
        budget=team.monthly_budget,
        waiting=waiting_to_be_charged(team) if current else ZERO,
    )
