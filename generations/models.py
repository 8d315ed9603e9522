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
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from generations import rules
from generations.gmi import RemoteRequest, RemoteStatus


class GenerationQuerySet(models.QuerySet["Generation"]):
    def for_team(self, team) -> GenerationQuerySet:
        return self.filter(team=team)

    def at_service(self) -> GenerationQuerySet:
        return self.filter(status__in=Generation.AT_SERVICE)

    def unfinished(self) -> GenerationQuerySet:
        return self.filter(status__in=Generation.UNFINISHED)

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
        """Every word must appear in the prompt or the negative prompt."""
        for word in text.split():
            self = self.filter(Q(prompt__icontains=word) | Q(negative_prompt__icontains=word))
        return self

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
        claimable = Q(status=Generation.Status.PENDING) | Q(
            status=Generation.Status.SUBMITTING, request_id__isnull=True, claim_expires_at__lt=now
        )
        claimed = self.filter(claimable, pk=pk).update(
            status=Generation.Status.SUBMITTING,
            claimed_at=Coalesce(F("claimed_at"), now),
            claim_expires_at=now + timedelta(seconds=settings.GENERATION_SUBMIT_LEASE),
            submit_attempts=F("submit_attempts") + 1,
        )
        return self.get(pk=pk) if claimed == 1 else None

    def claim_poll(self, pk: int, token: str) -> Generation | None:
        """Take the poll armed with `token`; a duplicate or stale poll task gets None."""
        if not token or self.filter(pk=pk, poll_token=token).update(poll_token="") != 1:
            return None
        generation = self.get(pk=pk)
        return generation if generation.request_id and generation.is_in_progress else None

    def arm_poll(self, pk: int, countdown: float) -> str | None:
        """Record the next poll of an in-progress generation; returns its token."""
        token = uuid.uuid4().hex
        armed = (
            self.at_service()
            .filter(pk=pk, request_id__isnull=False)
            .update(poll_token=token, next_poll_at=timezone.now() + timedelta(seconds=countdown))
        )
        return token if armed == 1 else None

    def create_imported(self, remote: RemoteRequest, *, team, created_by) -> Generation:
        """A generation for a request made outside the studio, as the service reports it."""
        values = rules.payload_values(remote.payload)
        try:
            values["cfg_scale"] = float(values["cfg_scale"])
        except (TypeError, ValueError):
            values["cfg_scale"] = rules.CFG_SCALE_DEFAULT
        generation = self.create(
            team=team,
            created_by=created_by,
            model_id=remote.model,
            request_id=remote.request_id,
            status=Generation.Status.QUEUED,
            prompt=str(values["prompt"]),
            negative_prompt=str(values["negative_prompt"]),
            duration=str(values["duration"]),
            aspect_ratio=str(values["aspect_ratio"]),
            cfg_scale=values["cfg_scale"],
            created_at=remote.created_at or timezone.now(),
            submitted_at=remote.created_at or timezone.now(),
        )
        generation.apply_remote(remote)
        return generation

    def stalled_submissions(self, now: datetime) -> GenerationQuerySet:
        """Never sent although they should have been: a lost task or a dead worker."""
        lost = now - timedelta(seconds=settings.GENERATION_SUBMIT_LEASE)
        return self.filter(
            Q(status=Generation.Status.PENDING, created_at__lt=lost)
            | Q(status=Generation.Status.SUBMITTING, request_id__isnull=True, claim_expires_at__lt=now)
        )

    def stalled_polls(self, now: datetime) -> GenerationQuerySet:
        """Sent and unfinished, but their next poll is long overdue: the task was lost."""
        grace = timedelta(seconds=settings.GENERATION_POLL_MAX_INTERVAL * 2 + 60)
        return (
            self.at_service()
            .filter(request_id__isnull=False)
            .filter(Q(next_poll_at__lt=now - grace) | Q(next_poll_at__isnull=True, submitted_at__lt=now - grace))
        )

    def past_deadline(self, now: datetime) -> GenerationQuerySet:
        deadline = now - timedelta(seconds=settings.GENERATION_DEADLINE)
        return self.unfinished().filter(created_at__lt=deadline)


def _favourited_by(user) -> Exists:
    return Exists(Favourite.objects.filter(user=user, generation=OuterRef("pk")))


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
    poll_token = models.CharField(max_length=32, blank=True)
    next_poll_at = models.DateTimeField(null=True, blank=True)
    poll_count = models.PositiveIntegerField(default=0)

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
    def frame_size(self) -> tuple[int, int]:
        return rules.FRAME_SIZES[self.aspect_ratio]

    def elapsed(self, now: datetime | None = None) -> timedelta:
        return (self.finished_at or now or timezone.now()) - self.created_at

    @property
    def queued_for(self) -> timedelta | None:
        """From sending to the service starting work on it."""
        start = self.submitted_at or self.remote_queued_at
        end = self.processing_at or self.finished_at
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
        """Delete the generation, then its stored files once the deletion is committed."""
        files = [(field.storage, field.name) for field in (self.video, self.thumbnail) if field]
        self.delete()
        for storage, name in files:
            transaction.on_commit(lambda storage=storage, name=name: storage.delete(name))

    def matches(self, remote: RemoteRequest) -> bool:
        """Whether `remote` is the request this generation would have sent."""
        sent = self.parameters.as_payload()
        got = rules.payload_values(remote.payload)
        try:
            same_cfg = abs(float(got.pop("cfg_scale")) - sent.pop("cfg_scale")) < 1e-6
        except (TypeError, ValueError):
            return False
        return remote.model == self.model_id and same_cfg and got == sent

    # Transitions. Each is a conditional UPDATE and says whether it happened.

    def _transition(self, allowed_from, **changes) -> bool:
        updated = Generation.objects.filter(pk=self.pk, status__in=allowed_from).update(**changes)
        if updated == 1:
            for name, value in changes.items():
                setattr(self, name, value)
        return updated == 1

    def record_submission(self, remote: RemoteRequest) -> bool:
        """Save the remote request id, first, before anything else uses it."""
        now = timezone.now()
        saved = (
            Generation.objects.filter(pk=self.pk, status=self.Status.SUBMITTING, request_id__isnull=True).update(
                request_id=remote.request_id, status=self.Status.QUEUED, submitted_at=now, claim_expires_at=None
            )
            == 1
        )
        if saved:
            self.request_id, self.status, self.submitted_at = remote.request_id, self.Status.QUEUED, now
            self.apply_remote(remote)
        return saved

    def apply_remote(self, remote: RemoteRequest) -> None:
        """Take in what the service says. Success is only final once the files are stored."""
        now = timezone.now()
        changes: dict = {
            "remote_created_at": remote.created_at or self.remote_created_at,
            "remote_updated_at": remote.updated_at or self.remote_updated_at,
            "remote_queued_at": remote.queued_at or self.remote_queued_at,
            "poll_count": self.poll_count + 1,
        }
        if remote.status == RemoteStatus.QUEUED:
            changes["status"] = self.Status.QUEUED
        elif remote.status in (RemoteStatus.PROCESSING, RemoteStatus.SUCCESS):
            changes["status"] = self.Status.PROCESSING
            changes["processing_at"] = self.processing_at or now
        if remote.outcome:
            changes["video_url"] = remote.outcome.video_url
            changes["thumbnail_url"] = remote.outcome.thumbnail_url
        self._transition(self.AT_SERVICE, **changes)
        if remote.status == RemoteStatus.FAILED:
            self.fail(remote.error or "The video service reported that the generation failed.")
        elif remote.status == RemoteStatus.CANCELLED:
            self.fail(remote.error or "The request was cancelled by the video service.", self.Status.CANCELLED)

    def fail(self, reason: str, status: str = Status.FAILED) -> bool:
        return self._transition(
            self.UNFINISHED, status=status, failure_reason=reason, finished_at=timezone.now(), poll_token=""
        )

    def succeed(self, video_name: str, thumbnail_name: str) -> bool:
        return self._transition(
            self.AT_SERVICE,
            status=self.Status.SUCCESS,
            video=video_name,
            thumbnail=thumbnail_name,
            finished_at=timezone.now(),
            poll_token="",
        )

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
