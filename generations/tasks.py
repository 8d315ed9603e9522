"""Celery tasks. They take ids, claim rows with conditional updates, and never sleep:
waiting for the API is a task scheduled for later."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.gmi import (
    AuthenticationError,
    GMIClient,
    GMIError,
    NotFoundError,
    Outcome,
    RateLimitedError,
    RemoteRequest,
    RemoteStatus,
)
from generations.models import Generation
from generations.rules import InvalidParameters

logger = logging.getLogger(__name__)

# Remote timestamps are whole seconds and clocks drift: a request sent just after the
# claim may carry a time a little before it.
CLOCK_SKEW = timedelta(seconds=30)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_generation(generation_id: int) -> None:
    generation = Generation.objects.claim_for_submit(generation_id)
    if generation is None:
        return
    client = GMIClient.from_settings()
    try:
        remote = None
        if generation.submit_attempts > 1:
            remote = find_earlier_submission(client, generation)
        if remote is None:
            remote = client.submit(generation.parameters, model=generation.model_id)
    except InvalidParameters as exc:
        generation.fail(f"The parameters break the video service's rules: {exc}")
        return
    except GMIError as exc:
        handle_submit_error(generation, exc)
        return
    if generation.record_submission(remote):
        logger.info("Generation %s sent as request %s", generation.pk, remote.request_id)
        schedule_poll(generation.pk, next_poll_interval(generation))


def find_earlier_submission(client: GMIClient, generation: Generation) -> RemoteRequest | None:
    """The request an earlier attempt sent but did not live to record, if there is one.

    The API takes no idempotency key, so the evidence is the list of requests: same model
    and payload, created after this generation was first claimed, not taken by another.
    """
    since = generation.claimed_at - CLOCK_SKEW
    candidates = [
        remote
        for remote in client.list_requests(generation.model_id)
        if generation.matches(remote) and (remote.created_at is None or remote.created_at >= since)
    ]
    taken = set(
        Generation.objects.filter(request_id__in=[r.request_id for r in candidates]).values_list(
            "request_id", flat=True
        )
    )
    unclaimed = [r for r in candidates if r.request_id not in taken]
    unclaimed.sort(key=lambda r: r.created_at or timezone.now())
    if unclaimed:
        logger.warning(
            "Generation %s adopts request %s, sent by an earlier attempt", generation.pk, unclaimed[0].request_id
        )
        return unclaimed[0]
    return None


def handle_submit_error(generation: Generation, exc: GMIError) -> None:
    if not exc.retryable:
        generation.fail(describe_error(exc))
        return
    if generation.submit_attempts >= settings.GENERATION_MAX_SUBMIT_ATTEMPTS:
        generation.fail(f"{describe_error(exc)} Gave up after {generation.submit_attempts} attempts.")
        return
    countdown = min(2.0**generation.submit_attempts, settings.GENERATION_POLL_MAX_INTERVAL)
    if isinstance(exc, RateLimitedError) and exc.retry_after:
        countdown = min(max(countdown, exc.retry_after), settings.GENERATION_POLL_MAX_INTERVAL)
    logger.warning("Submitting generation %s failed (%s); retrying in %.0f s", generation.pk, exc, countdown)
    generation.release_claim()
    submit_generation.apply_async((generation.pk,), countdown=countdown)


def describe_error(exc: GMIError) -> str:
    """The reason a person reads on the generation's card."""
    if isinstance(exc, AuthenticationError):
        return "The video service refused the studio's API key; an administrator needs to check it."
    if isinstance(exc, NotFoundError):
        return "The video service no longer knows this request."
    if isinstance(exc, RateLimitedError):
        return "The video service's rate limit for this organisation was reached."
    if exc.retryable:
        return f"The video service could not be reached: {exc.message}."
    return f"The video service rejected the request: {exc.message}"


def next_poll_interval(generation: Generation) -> float:
    """Poll often while a job is young, less often as it ages."""
    age = generation.elapsed().total_seconds()
    return min(settings.GENERATION_POLL_MAX_INTERVAL, max(settings.GENERATION_POLL_INTERVAL, age / 10))


def schedule_poll(generation_id: int, countdown: float) -> None:
    countdown = min(countdown, settings.GENERATION_POLL_MAX_INTERVAL)
    token = Generation.objects.arm_poll(generation_id, countdown)
    if token:
        poll_generation.apply_async((generation_id, token), countdown=countdown)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def poll_generation(generation_id: int, token: str) -> None:
    generation = Generation.objects.claim_poll(generation_id, token)
    if generation is None:
        return
    if generation.elapsed() > timedelta(seconds=settings.GENERATION_DEADLINE):
        generation.fail(deadline_reason())
        return
    try:
        remote = GMIClient.from_settings().get_request(generation.request_id)
    except GMIError as exc:
        if not exc.retryable:
            generation.fail(describe_error(exc))
            return
        wait = exc.retry_after if isinstance(exc, RateLimitedError) and exc.retry_after else 0
        logger.warning("Polling generation %s failed (%s); trying again", generation.pk, exc)
        schedule_poll(generation.pk, max(wait, next_poll_interval(generation)))
        return
    generation.apply_remote(remote)
    if remote.status == RemoteStatus.SUCCESS:
        store_outcome(generation, remote.outcome)
    elif not remote.status.is_final:
        schedule_poll(generation.pk, next_poll_interval(generation))


def store_outcome(generation: Generation, outcome: Outcome | None) -> None:
    """Copy the video and thumbnail into our storage, then mark the generation done."""
    if outcome is None:
        generation.fail("The video service reported success but gave no video.")
        return
    client = GMIClient.from_settings()
    try:
        video_name = download_into_storage(client, outcome.video_url, generation, "video.mp4")
        thumbnail_name = ""
        if outcome.thumbnail_url:
            thumbnail_name = download_into_storage(client, outcome.thumbnail_url, generation, "thumbnail.jpg")
    except GMIError as exc:
        if not exc.retryable:
            generation.fail(f"The finished video could not be stored: {exc.message}")
            return
        logger.warning("Downloading generation %s failed (%s); trying again", generation.pk, exc)
        schedule_poll(generation.pk, next_poll_interval(generation))
        return
    if not generation.succeed(video_name, thumbnail_name):
        # Deleted, or ended (say, by its deadline) while the files were on their way.
        for name in filter(None, (video_name, thumbnail_name)):
            default_storage.delete(name)


def download_into_storage(client: GMIClient, url: str, generation: Generation, filename: str) -> str:
    """Stream to a temporary file, then move it into place under media storage."""
    temp_dir = Path(settings.MEDIA_ROOT) / "tmp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=temp_dir, suffix=Path(filename).suffix, delete=False) as handle:
        try:
            client.download(url, handle, max_bytes=settings.GMI_MAX_DOWNLOAD_BYTES)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    name = generation.video.field.generate_filename(generation, filename)
    if default_storage.exists(name):
        default_storage.delete(name)
    with open(handle.name, "rb") as downloaded:
        return default_storage.save(name, _MovableFile(downloaded, handle.name))


class _MovableFile(File):
    """Lets FileSystemStorage move the temporary file into place instead of copying it."""

    def temporary_file_path(self) -> str:
        return self.name


def deadline_reason() -> str:
    minutes = settings.GENERATION_DEADLINE / 60
    return f"The video was not ready within {minutes:g} minutes, so the studio stopped waiting."


@shared_task
def recover_stalled_generations() -> dict[str, int]:
    """Run by beat: re-send lost submit tasks, re-arm lost polls, end the overdue."""
    now = timezone.now()
    expired = 0
    for generation in Generation.objects.past_deadline(now):
        expired += generation.fail(deadline_reason())
    submits = list(Generation.objects.stalled_submissions(now).values_list("pk", flat=True))
    for pk in submits:
        submit_generation.delay(pk)
    polls = list(Generation.objects.stalled_polls(now).values_list("pk", flat=True))
    for pk in polls:
        schedule_poll(pk, 0)
    return {"expired": expired, "submits": len(submits), "polls": len(polls)}
