"""The team gallery's filters and keyset paging.

Everything a filtered view needs lives in its URL, so it can be bookmarked and shared.
Pages are cut by key (the last item seen), never by offset, so page 200 costs what page 1
costs; each filter has an index in the same newest-first order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.http import QueryDict
from django.utils import timezone

from generations import search
from generations.models import Generation, GenerationQuerySet

PAGE_SIZE = 24
IN_PROGRESS = "in_progress"
FILTERS = ("q", "status", "aspect_ratio", "duration", "creator", "favourites", "created_from", "created_to")


@dataclass(frozen=True)
class Cursor:
    created_at: datetime
    pk: int

    def encode(self) -> str:
        return f"{int(self.created_at.timestamp() * 1_000_000)}.{self.pk}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        micros, _, pk = value.partition(".")
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
        return cls(moment, int(pk))

    @classmethod
    def after(cls, generation: Generation) -> Cursor:
        return cls(generation.created_at, generation.pk)


class CursorField(forms.CharField):
    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return Cursor.decode(value)
        except (ValueError, OverflowError, OSError):
            raise forms.ValidationError("That page link is broken; start again from the first page.") from None


class GalleryFilterForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[
            ("", "Any status"),
            (IN_PROGRESS, "In progress"),
            (Generation.Status.SUCCESS, "Done"),
            (Generation.Status.FAILED, "Failed"),
            (Generation.Status.CANCELLED, "Cancelled"),
        ],
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio", required=False, choices=[("", "Any shape"), *Generation.AspectRatio.choices]
    )
    duration = forms.ChoiceField(
        label="Duration", required=False, choices=[("", "Any length"), *Generation.Duration.choices]
    )
    creator = forms.ModelChoiceField(
        label="Made by", required=False, queryset=get_user_model().objects.none(), empty_label="Anyone"
    )
    favourites = forms.BooleanField(label="My favourites only", required=False)
    created_from = forms.DateField(label="From", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(label="To", required=False, widget=forms.DateInput(attrs={"type": "date"}))
    cursor = CursorField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, team, user):
        super().__init__(data, label_suffix="")
        self.team, self.user = team, user
        self.fields["creator"].queryset = team.members.order_by("username")
        self.fields["creator"].label_from_instance = lambda member: member.get_username()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            self.add_error("created_to", "The end date is before the start date.")
            cleaned.pop("created_from", None)  # a backwards range bounds nothing: neither end
        return cleaned

    def _valid_values(self) -> dict:
        """The filters to apply: every valid one. A bad value (a backwards date range, a
        choice that is not one) is explained beside its field and leaves the others be."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return self.cleaned_data

    def filtered(self) -> GenerationQuerySet:
        """The team's generations that pass the valid filters, newest first."""
        values = self._valid_values()
        return self._narrowed(self._dated(values), values).newest_first()

    def _dated(self, values: dict) -> GenerationQuerySet:
        """The team's generations within the dates: a range of its newest-first index."""
        generations = Generation.objects.for_team(self.team)
        if start := values.get("created_from"):
            generations = generations.filter(created_at__gte=_midnight(start))
        if (end := values.get("created_to")) and end < date.max:  # the last day there is bounds nothing
            generations = generations.filter(created_at__lt=_midnight(end + timedelta(days=1)))
        return generations

    def _narrowed(self, generations: GenerationQuerySet, values: dict) -> GenerationQuerySet:
        if text := values.get("q"):
            generations = generations.search(text)
        if status := values.get("status"):
            status_filter = Generation.UNFINISHED if status == IN_PROGRESS else [status]
            generations = generations.filter(status__in=status_filter)
        if ratio := values.get("aspect_ratio"):
            generations = generations.filter(aspect_ratio=ratio)
        if duration := values.get("duration"):
            generations = generations.filter(duration=duration)
        if creator := values.get("creator"):
            generations = generations.filter(created_by=creator)
        if values.get("favourites"):
            generations = generations.favourites_of(self.user)
        return generations

    def page(self, size: int = PAGE_SIZE) -> GalleryPage:
        values = self._valid_values()
        in_view = self._dated(values)
        if cursor := values.get("cursor"):
            in_view = in_view.older_than(cursor.created_at, cursor.pk)
        generations = self._narrowed(in_view, values).newest_first()
        generations = generations.select_related("created_by").with_favourite_of(self.user)
        if text := values.get("q"):
            rows = search.first_matches(generations, scope=in_view, team_id=self.team.pk, text=text, count=size + 1)
        else:
            rows = list(generations[: size + 1])
        items, more = rows[:size], len(rows) > size
        return GalleryPage(items=items, next_cursor=Cursor.after(items[-1]).encode() if more else "")

    @property
    def active_count(self) -> int:
        """How many filters narrow the view (the search counts as one; so does each date)."""
        values = self._valid_values()
        return sum(1 for name in FILTERS if values.get(name))

    def query_string(self, **changes) -> str:
        """This view's filters as a query string, with `changes` applied (None removes).

        It starts with the team, so that a copied link shows the same gallery to a
        teammate working in another team at the moment (it switches them to this one)."""
        params = self.data.copy() if self.is_bound else QueryDict(mutable=True)
        params.pop("team", None)
        for name, value in changes.items():
            params.pop(name, None)
            if value is not None:
                params[name] = value
        filters = [(name, value) for name, values in params.lists() for value in values if value != ""]
        return urlencode([("team", self.team.pk), *filters])


def _midnight(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class GalleryPage:
    items: list[Generation]
    next_cursor: str

    @property
    def live_ids(self) -> list[int]:
        return [generation.pk for generation in self.items if generation.is_in_progress]
