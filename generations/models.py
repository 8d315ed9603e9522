"""A Generation is one request for one video, from the form to the stored file.

Status changes that workers race on are made with conditional UPDATEs: a worker acts only
when its update changed exactly one row. The remote request id is saved before anything
else is done with it, so no generation is ever sent to the paid API twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.text import slugify

from generations import failures, live, rules
from generations.gmi import Outcome, RemoteRequest, RemoteStatus
from generations.querysets import GenerationQuerySet, next_refresh_after

# What every answer from the service about a generation records: when, and one more.
REFRESHED = {"refreshed_at": Now(), "poll_count": F("poll_count") + 1}


def _video_path(generation: Generation, filename: str) -> str:
    return f"generations/{generation.pk}/{filename}"


class Generation(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SUBMITTING = "submitting", "Sending"
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        SUCCESS = "success", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Duration(models.TextChoices):
        FIVE = "5", "5 seconds"
        TEN = "10", "10 seconds"

    class AspectRatio(models.TextChoices):
        LANDSCAPE = "16:9", "16:9 landscape"
        PORTRAIT = "9:16", "9:16 portrait"
        SQUARE = "1:1", "1:1 square"

    AT_SERVICE = (Status.QUEUED, Status.PROCESSING)  # sent, and being worked on
    UNFINISHED = (Status.PENDING, Status.SUBMITTING, Status.QUEUED, Status.PROCESSING)
    FINAL = (Status.SUCCESS, Status.FAILED, Status.CANCELLED)

    team = models.ForeignKey("accounts.Team", on_delete=models.CASCADE, related_name="generations")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")

    # The request, as sent.
    model_id = models.CharField(max_length=100, default=rules.MODEL_ID)
    prompt = models.TextField(max_length=rules.PROMPT_MAX_LENGTH, blank=True)
    negative_prompt = models.TextField(max_length=rules.PROMPT_MAX_LENGTH, blank=True)
    duration = models.CharField(max_length=2, choices=Duration.choices, default=Duration.FIVE)
    aspect_ratio = models.CharField(max_length=4, choices=AspectRatio.choices, default=AspectRatio.LANDSCAPE)
    cfg_scale = models.FloatField(
        default=rules.CFG_SCALE_DEFAULT,
        validators=[MinValueValidator(rules.CFG_SCALE_MIN), MaxValueValidator(rules.CFG_SCALE_MAX)],
    )

    # Where it stands.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    failure_reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=100, unique=True, null=True, blank=True)

    # What the service said, in its own clock.
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    remote_queued_at = models.DateTimeField(null=True, blank=True)

    # The outcome: the service's links, and our own copies that outlive them.
    video_url = models.URLField(max_length=2000, blank=True)
    thumbnail_url = models.URLField(max_length=2000, blank=True)
    video = models.FileField(upload_to=_video_path, max_length=300, blank=True)
    thumbnail = models.FileField(upload_to=_video_path, max_length=300, blank=True)

    # Our clock.
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    processing_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # Worker bookkeeping.
    claim_expires_at = models.DateTimeField(null=True, blank=True)
    submit_attempts = models.PositiveSmallIntegerField(default=0)
    # Who holds the row now: a tick refreshing it, or a task storing its files. A hold ends at
    # `next_poll_at`; from then on the row is due for a refresh, whoever held it.
    lease_token = models.CharField(max_length=32, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)  # when the service last told us about it
    poll_count = models.PositiveIntegerField(default=0)
    store_attempts = models.PositiveSmallIntegerField(default=0)

    objects = GenerationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        # The gallery's order is (created_at, pk) newest first, within one team; each filter
        # has an index that keeps that order, so a page is an index range scan.
        indexes = [
            models.Index(fields=["team", "-created_at", "-id"], name="generation_team_recent"),
            models.Index(fields=["team", "status", "-created_at", "-id"], name="generation_team_status"),
            models.Index(fields=["team", "aspect_ratio", "-created_at", "-id"], name="generation_team_ratio"),
            models.Index(fields=["team", "duration", "-created_at", "-id"], name="generation_team_duration"),
            models.Index(fields=["team", "created_by", "-created_at", "-id"], name="generation_team_creator"),
            models.Index(fields=["status", "next_poll_at"], name="generation_status_poll"),
        ]

    def __str__(self) -> str:
        return f"Generation {self.pk} ({self.status}): {self.prompt[:40]}"

    @property
    def parameters(self) -> rules.VideoParameters:
        return rules.VideoParameters(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            duration=self.duration,
            aspect_ratio=self.aspect_ratio,
            cfg_scale=self.cfg_scale,
        )

    @property
    def is_in_progress(self) -> bool:
        return self.status in self.UNFINISHED

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def failure(self) -> failures.Failure | None:
        """What went wrong, in plain words, and the next step; None unless failed or cancelled."""
        return failures.of(self)

    @property
    def is_live(self) -> bool:
        """Whether its card still waits for news: in progress, or a cancel the service has not answered."""
        return self.is_in_progress or failures.is_awaiting_cancel(self.status, self.failure_reason)

    @property
    def can_cancel(self) -> bool:
        return self.is_in_progress and not self.video_url

    @property
    def frame_size(self) -> tuple[int, int] | None:
        """The video's pixel size; None for a shape the contract does not know (no page breaks on it)."""
        return rules.FRAME_SIZES.get(self.aspect_ratio)

    @property
    def is_past_deadline(self) -> bool:
        return self.elapsed() > timedelta(seconds=settings.GENERATION_DEADLINE)

    def fail_past_deadline(self) -> bool:
        minutes = settings.GENERATION_DEADLINE / 60
        return self.fail(f"The video was not ready within {minutes:g} minutes, so the studio stopped waiting.")

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (self.finished_at or now or timezone.now()) - self.created_at

    @property
    def queued_for(self) -> timedelta | None:
        """From sending to the service starting work on it."""
        start, end = self.submitted_at or self.remote_queued_at, self.processing_at or self.finished_at
        return end - start if start and end else None

    @property
    def processing_for(self) -> timedelta | None:
        return self.finished_at - self.processing_at if self.processing_at and self.finished_at else None

    @property
    def download_filename(self) -> str:
        """A file name made from the prompt, for the downloaded MP4."""
        stem = slugify(self.prompt)[:60].strip("-") or "generation"
        return f"{stem}-{self.pk}.mp4"

    def delete_with_files(self) -> None:
        """Delete the generation, then, once that is committed, its stored files, and its
        request at the service if that is still being worked on (nobody will keep it)."""
        from generations.tasks import queue_cancellation

        files = [(field.storage, field.name) for field in (self.video, self.thumbnail) if field]
        still_running = self.request_id if self.status in self.AT_SERVICE else None
        self.delete()
        for storage, name in files:
            transaction.on_commit(lambda storage=storage, name=name: storage.delete(name))
        if still_running:
            transaction.on_commit(lambda: queue_cancellation(still_running))

    def matches(self, remote: RemoteRequest) -> bool:
        """Whether `remote` is the request this generation would have sent."""
        sent = self.parameters.as_payload()
        got = rules.payload_values(remote.payload)
        try:
            same_cfg = abs(float(got.pop("cfg_scale")) - sent.pop("cfg_scale")) < 1e-6
        except (TypeError, ValueError):
            return False
        return remote.model == self.model_id and same_cfg and got == sent

    # Transitions. Each is a conditional UPDATE and says whether it happened; one that holds
    # a lease (`token`) happens only while the row is still held with that token.

    def _transition(self, allowed_from, *, token: str | None = None, only_if: Q | None = None, **changes) -> bool:
        rows = Generation.objects.filter(pk=self.pk, status__in=allowed_from)
        if token is not None:
            rows = rows.filter(lease_token=token)
        if only_if is not None:
            rows = rows.filter(only_if)
        updated = rows.update(**changes) == 1
        if updated:
            for name, value in changes.items():
                if not hasattr(value, "resolve_expression"):  # F() counters stay as the database has them
                    setattr(self, name, value)
            if "status" in changes:
                live.announce(self)
        return updated

    def record_submission(self, remote: RemoteRequest) -> bool:
        """Save the remote request id, first, before anything else uses it; the tick follows it next."""
        now = timezone.now()
        saved = self._transition(
            (self.Status.SUBMITTING,),
            only_if=Q(request_id__isnull=True),
            request_id=remote.request_id,
            status=self.Status.QUEUED,
            submitted_at=now,
            claim_expires_at=None,
            next_poll_at=next_refresh_after(now),
        )
        if saved:
            self.apply_remote(remote)
        return saved

    def remote_changes(self, remote: RemoteRequest) -> dict:
        """What the service's answer changes here: its clock, and queued or processing.

        Success reads as processing until the files are stored; a failure or cancellation is
        for `fail`. An answer that says nothing new gives an empty dict.
        """
        changes: dict = {}
        for name in ("created_at", "updated_at", "queued_at"):
            value = getattr(remote, name)
            if value and value != getattr(self, f"remote_{name}"):
                changes[f"remote_{name}"] = value
        status = self.status
        if remote.status == RemoteStatus.QUEUED:
            status = self.Status.QUEUED
        elif remote.status in (RemoteStatus.PROCESSING, RemoteStatus.SUCCESS):
            status = self.Status.PROCESSING
            if not self.processing_at:
                changes["processing_at"] = timezone.now()
        if status != self.status:
            changes["status"] = status
        return changes

    def apply_remote(self, remote: RemoteRequest) -> None:
        """Take in what the service says, outside a tick: just after sending, or on import."""
        changes = self.remote_changes(remote)
        if remote.outcome:
            changes.update(video_url=remote.outcome.video_url, thumbnail_url=remote.outcome.thumbnail_url)
        if changes:
            self._transition(self.AT_SERVICE, **changes)
        if remote.status in (RemoteStatus.FAILED, RemoteStatus.CANCELLED):
            self.fail_as_reported(remote)

    def fail_as_reported(self, remote: RemoteRequest) -> bool:
        if remote.status == RemoteStatus.CANCELLED:
            return self.fail(remote.error or "The request was cancelled by the video service.", self.Status.CANCELLED)
        return self.fail(remote.error or "The video service reported that the generation failed.")

    def refreshed(self, token: str, next_poll_at: datetime, changes: dict) -> bool:
        """A tick's refresh found news: record it, and make the row due again."""
        return self._transition(
            self.AT_SERVICE, token=token, lease_token="", next_poll_at=next_poll_at, **changes, **REFRESHED
        )

    def hold_for_store(self, token: str, outcome: Outcome, changes: dict) -> str | None:
        """The service finished: hold the row for storing its files; returns the store's token."""
        store_token = uuid.uuid4().hex
        held = self._transition(
            self.AT_SERVICE,
            token=token,
            lease_token=store_token,
            next_poll_at=timezone.now() + timedelta(seconds=settings.GENERATION_STORE_LEASE),
            video_url=outcome.video_url,
            thumbnail_url=outcome.thumbnail_url,
            **changes,
            **REFRESHED,
        )
        return store_token if held else None

    def retry_store(self, token: str, next_poll_at: datetime) -> bool:
        """Storing failed: forget the links (they may have expired) and refresh for new ones."""
        return self._transition(
            self.AT_SERVICE, token=token, lease_token="", next_poll_at=next_poll_at, video_url="", thumbnail_url="",
            store_attempts=F("store_attempts") + 1,
        )  # fmt: skip

    def succeed(self, token: str, video_name: str, thumbnail_name: str) -> bool:
        return self._transition(
            self.AT_SERVICE,
            token=token,
            status=self.Status.SUCCESS,
            video=video_name,
            thumbnail=thumbnail_name,
            finished_at=timezone.now(),
            lease_token="",
        )

    def fail(self, reason: str, status: str = Status.FAILED) -> bool:
        return self._transition(
            self.UNFINISHED, status=status, failure_reason=reason, finished_at=timezone.now(), lease_token=""
        )

    def cancel(self) -> bool:
        """A person's cancel: the generation ends cancelled here at once, unless it ended
        meanwhile or its finished video is being stored. The service is asked to stop it
        (after the commit); a submit in flight finds the row cancelled and cancels what it sent."""
        ended = {"status": self.Status.CANCELLED, "finished_at": timezone.now(), "lease_token": ""}
        never_sent = f"{failures.CANCELLED_IN_STUDIO} {failures.NEVER_SENT}"
        if self._transition((self.Status.PENDING,), failure_reason=never_sent, **ended):
            return True  # no worker can claim it now
        if not self._transition(
            self.UNFINISHED, only_if=Q(video_url=""), failure_reason=failures.CANCELLED_IN_STUDIO, **ended
        ):
            self.refresh_from_db()
            return False
        # Once cancelled, no submit can record a request id: the one read now is the last.
        if request_id := Generation.objects.filter(pk=self.pk).values_list("request_id", flat=True).first():
            self.ask_service_to_cancel(request_id)
        else:  # a worker was sending it: if it dies after sending, its request is found and cancelled
            from generations.tasks import cancel_unrecorded_submission, queue_later

            pk, lease = self.pk, settings.GENERATION_SUBMIT_LEASE
            transaction.on_commit(lambda: queue_later(cancel_unrecorded_submission, lease, pk))
        return True

    def ask_service_to_cancel(self, request_id: str) -> None:
        """Record that the service is being asked, then ask it once the change is committed."""
        from generations.tasks import queue_cancellation

        Generation.objects.filter(pk=self.pk, status=self.Status.CANCELLED).filter(
            Q(request_id=request_id) | Q(request_id__isnull=True)
        ).update(request_id=request_id, failure_reason=f"{failures.CANCELLED_IN_STUDIO} {failures.ASKING}")
        self.request_id = request_id
        self.failure_reason = f"{failures.CANCELLED_IN_STUDIO} {failures.ASKING}"
        live.announce(self)
        pk = self.pk

        def ask() -> None:
            if not queue_cancellation(request_id, pk) and (generation := Generation.objects.filter(pk=pk).first()):
                generation.answer_cancel(
                    failures.MAY_STILL_FINISH.format(reason="the studio's work queue could not be reached")
                )

        transaction.on_commit(ask)

    def answer_cancel(self, note: str) -> bool:
        """What the service made of the cancel, on a generation still waiting to hear it."""
        return self._note_cancel(note, only_if=Q(failure_reason__endswith=failures.ASKING))

    def _note_cancel(self, note: str, only_if: Q | None = None) -> bool:
        noted = self._transition(
            (self.Status.CANCELLED,),
            only_if=Q(failure_reason__startswith=failures.CANCELLED_IN_STUDIO) & (only_if or Q()),
            failure_reason=f"{failures.CANCELLED_IN_STUDIO} {note}",
        )
        if noted:
            live.announce(self)
        return noted

    def release_claim(self) -> None:
        """Let the next attempt claim at once; it will look for what this one may have sent."""
        Generation.objects.filter(pk=self.pk, status=self.Status.SUBMITTING, request_id__isnull=True).update(
            claim_expires_at=timezone.now()
        )


class Favourite(models.Model):
    """A person's mark on a generation; everyone on the team keeps their own."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites")
    generation = models.ForeignKey(Generation, on_delete=models.CASCADE, related_name="favourites")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "generation"], name="one_favourite_per_person")]

    def __str__(self) -> str:
        return f"{self.user} likes generation {self.generation_id}"


# Concerns of their own (generations/sharing.py, billing.py); the app registers their models here.
from generations.billing import Charge  # noqa: E402, F401
from generations.sharing import ShareLink  # noqa: E402, F401
