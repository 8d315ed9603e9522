"""Which generations: the gallery's browsing, and the claims workers race on.

A claim is a conditional UPDATE: a worker acts only on the rows its update changed. The
schedule lives in the rows themselves: `next_poll_at` says when each is next due.
"""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from generations import rules
from generations.gmi import RemoteRequest
from generations.search import PromptText

if TYPE_CHECKING:
    from generations.models import Generation

# A pending generation is claimed within milliseconds of its task being queued; one still
# pending after this many seconds was not queued (the broker was away) or its task was lost.
OUTBOX_GRACE_SECONDS = 10


class GenerationQuerySet(models.QuerySet["Generation"]):
    def for_team(self, team) -> GenerationQuerySet:
        return self.filter(team=team)

    def at_service(self) -> GenerationQuerySet:
        return self.filter(status__in=self.model.AT_SERVICE)

    def newest_first(self) -> GenerationQuerySet:
        return self.order_by("-created_at", "-pk")

    def older_than(self, created_at: datetime, pk: int) -> GenerationQuerySet:
        """Keyset paging: everything after (created_at, pk) in newest-first order.

        The plain `created_at <= cursor` bound lets the index seek straight to the cursor;
        the OR that breaks ties alone would only filter rows read from the start.
        """
        ties_broken = Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk)
        return self.filter(ties_broken, created_at__lte=created_at)

    def search(self, text: str) -> GenerationQuerySet:
        """Every word must appear in the prompt or the negative prompt, in any case.

        This decides what is found; `generations.search` finds a page of it fast.
        """
        searched = self.alias(prompt_text=PromptText())
        for word in text.split():
            searched = searched.filter(prompt_text__icontains=word)
        return searched

    def with_favourite_of(self, user) -> GenerationQuerySet:
        return self.annotate(is_favourite=_favourited_by(user))

    def favourites_of(self, user) -> GenerationQuerySet:
        return self.filter(_favourited_by(user))

    def claim_for_submit(self, pk: int) -> Generation | None:
        """Take the generation for sending, or None if another worker has it or it is sent.

        A claim is a lease: one whose worker died (no request id when the lease ran out)
        can be claimed again, and that retry looks for the request it may have sent.
        """
        now = timezone.now()
        claimable = Q(status=self.model.Status.PENDING) | Q(
            status=self.model.Status.SUBMITTING, request_id__isnull=True, claim_expires_at__lt=now
        )
        claimed = self.filter(claimable, pk=pk).update(
            status=self.model.Status.SUBMITTING,
            claimed_at=Coalesce(F("claimed_at"), now),
            claim_expires_at=now + timedelta(seconds=settings.GENERATION_SUBMIT_LEASE),
            submit_attempts=F("submit_attempts") + 1,
        )
        return self.get(pk=pk) if claimed == 1 else None

    def due_for_refresh(self, now: datetime) -> GenerationQuerySet:
        """Sent, unfinished, and due. A row a tick or a store holds is due again when its hold ends."""
        return (
            self.at_service()
            .filter(request_id__isnull=False)
            .filter(Q(next_poll_at__lte=now) | Q(next_poll_at__isnull=True))
        )

    def claim_due(self, limit: int) -> list[Generation]:
        """Take up to `limit` due generations for one tick, those asked about longest ago first.

        Each comes back holding the tick's `lease_token`, with `next_poll_at` moved to the end
        of the hold. No two ticks hold the same row: PostgreSQL skips the rows another tick
        has locked, SQLite runs one writing transaction at a time, and the UPDATE takes only
        rows that are still due. The order is fair: whatever the tick cannot ask about now
        is first in line next time, because its `refreshed_at` stays the oldest.
        """
        now = timezone.now()
        if not self.due_for_refresh(now).exists():  # a plain read: an idle tick takes no write lock
            return []
        token = uuid.uuid4().hex
        order = (F("refreshed_at").asc(nulls_first=True), "pk")
        with transaction.atomic():
            rows = self.due_for_refresh(now).order_by(*order).select_for_update(skip_locked=True)
            pks = list(rows.values_list("pk", flat=True)[:limit])
            lease_ends = now + timedelta(seconds=settings.GENERATION_REFRESH_LEASE)
            self.due_for_refresh(now).filter(pk__in=pks).update(lease_token=token, next_poll_at=lease_ends)
        return list(self.filter(lease_token=token).order_by(*order))

    def release(self, token: str, pks, next_poll_at: datetime, **changes) -> int:
        """End a hold on the rows it still has: they are due again at `next_poll_at`."""
        return self.filter(pk__in=pks, lease_token=token).update(lease_token="", next_poll_at=next_poll_at, **changes)

    def create_imported(self, remote: RemoteRequest, *, team, created_by) -> Generation:
        """A generation for a request made outside the studio, as the service reports it;
        raises InvalidParameters for one whose parameters break the contract."""
        values = rules.payload_values(remote.payload)
        with contextlib.suppress(TypeError, ValueError):  # a number sent as text; anything else is refused below
            values["cfg_scale"] = float(values["cfg_scale"])
        if errors := rules.parameter_errors(values):  # nothing the studio cannot show goes into its gallery
            raise rules.InvalidParameters(errors)
        generation = self.create(
            team=team,
            created_by=created_by,
            model_id=remote.model,
            request_id=remote.request_id,
            status=self.model.Status.QUEUED,
            prompt=str(values["prompt"]),
            negative_prompt=str(values["negative_prompt"]),
            duration=str(values["duration"]),
            aspect_ratio=str(values["aspect_ratio"]),
            cfg_scale=values["cfg_scale"],
            created_at=remote.created_at or timezone.now(),
            submitted_at=remote.created_at or timezone.now(),
            next_poll_at=timezone.now(),
        )
        generation.apply_remote(remote)
        return generation

    def stalled_submissions(self, now: datetime) -> GenerationQuerySet:
        """Never sent although they should have been: a task that could not be queued or was
        lost, or a dead worker's claim. A pending row is taken to be stalled after a few
        seconds: sending its task again is harmless, as only one delivery can claim it."""
        unqueued = now - timedelta(seconds=OUTBOX_GRACE_SECONDS)
        return self.filter(
            Q(status=self.model.Status.PENDING, created_at__lt=unqueued)
            | Q(status=self.model.Status.SUBMITTING, request_id__isnull=True, claim_expires_at__lt=now)
        )

    def past_deadline(self, now: datetime) -> GenerationQuerySet:
        """Never sent, and too old to be: failing them costs nothing and loses nothing paid for."""
        deadline = now - timedelta(seconds=settings.GENERATION_DEADLINE)
        return self.filter(status=self.model.Status.PENDING, created_at__lt=deadline)


def next_refresh_after(moment: datetime) -> datetime:
    """When a generation refreshed (or sent) at `moment` is due again: a little under one
    interval, as the next tick's start jitters by milliseconds and a row due just after it
    would wait a whole interval more."""
    return moment + timedelta(seconds=settings.GENERATION_REFRESH_INTERVAL * 0.8)


def _favourited_by(user) -> Exists:
    from generations.models import Favourite

    return Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))
