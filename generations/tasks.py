"""Celery tasks. They take ids, claim rows with conditional updates, and never sleep.

Three queues (settings): `submit` sends new generations, `refresh` runs beat's tick (the
fleet poller) and recovery, `store` copies finished videos into our storage.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError
from redis import RedisError

from generations import billing, failures, poller, storing
from generations.gmi import GMIClient, GMIError, NotFoundError, RateLimitedError, RemoteRequest, describe
from generations.models import Generation
from generations.rules import InvalidParameters
from kling_studio import metrics
from kling_studio.health import record_heartbeat
from kling_studio.observability import bind, log_context

logger = logging.getLogger(__name__)

# Remote timestamps are whole seconds and clocks drift: a request sent just after the
# claim may carry a time a little before it.
CLOCK_SKEW = timedelta(seconds=30)
SUBMIT_RETRY_LONGEST_WAIT = 30.0


@shared_task(acks_late=True, reject_on_worker_lost=True)
def submit_generation(generation_id: int) -> None:
    with log_context(generation_id=generation_id):
        if (paused := poller.fleet_pause_remaining()) > 0:  # the organisation's rate limit: wait, unclaimed
            submit_generation.apply_async((generation_id,), countdown=paused)
            return
        generation = Generation.objects.claim_for_submit(generation_id)
        if generation is None:
            return
        bind(generation)
        started = time.monotonic()
        try:
            send_claimed(generation)
        finally:
            outcome = {"queued": "sent", "processing": "sent", "submitting": "retry"}.get(generation.status, "failed")
            metrics.observe(metrics.SUBMIT_SECONDS, time.monotonic() - started, outcome)


def send_claimed(generation: Generation) -> None:
    """Send a claimed generation (or adopt what an earlier attempt sent), and record the request."""
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
    record_or_cancel(generation, remote)


def record_or_cancel(generation: Generation, remote: RemoteRequest) -> bool:
    """Record the request sent for a generation; if the person cancelled it meanwhile, the
    request is nobody's: ask the service to stop it."""
    with transaction.atomic():  # the request id and what it cost, together
        recorded = generation.record_submission(remote)
        if recorded:
            billing.charge(generation)
    if recorded:
        logger.info("Generation %s sent as request %s", generation.pk, remote.request_id)
        return True
    generation.refresh_from_db()
    if generation.status == Generation.Status.CANCELLED and generation.request_id is None:
        logger.info("Generation %s was cancelled while it was sent; cancelling %s", generation.pk, remote.request_id)
        generation.ask_service_to_cancel(remote.request_id)
    return False


def queue_submission(generation_id: int) -> bool:
    """Queue the submit task; False when the broker cannot be reached.

    A generation that could not be queued stays pending: the row is the outbox, and
    `recover_stalled_generations` queues it again once the broker is back.
    """
    return _queue(submit_generation, generation_id)


def queue_cancellation(request_id: str, generation_id: int | None = None) -> bool:
    """Ask a worker to cancel a request at the service; a broker that is away loses only
    the saving (the service finishes the request, and nobody keeps it). With the
    generation's id, the worker records on it what the service made of the cancel."""
    return _queue(cancel_request, request_id, *([generation_id] if generation_id else []))


def queue_later(task, countdown: float, *args) -> bool:
    return _queue(task, *args, countdown=countdown)


def _queue(task, *args, countdown: float | None = None) -> bool:
    try:
        task.apply_async(args, countdown=countdown)
    except (OperationalError, RedisError, OSError) as exc:
        logger.warning("Could not queue %s%r (%s)", task.name, args, exc)
        return False
    return True


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
    if isinstance(exc, NotFoundError):  # on submit, the model is what the service does not know
        generation.fail(f"The video service rejected the request: it does not offer the model {generation.model_id!r}.")
        return
    if not exc.retryable:
        generation.fail(describe(exc))
        return
    if generation.submit_attempts >= settings.GENERATION_MAX_SUBMIT_ATTEMPTS:
        give_up_submitting(generation, exc)
        return
    countdown = min(2.0**generation.submit_attempts, SUBMIT_RETRY_LONGEST_WAIT)
    if isinstance(exc, RateLimitedError):
        countdown = max(countdown, poller.pause_fleet(exc.retry_after))
    logger.warning("Submitting generation %s failed (%s); retrying in %.0f s", generation.pk, exc, countdown)
    generation.release_claim()
    submit_generation.apply_async((generation.pk,), countdown=countdown)


def give_up_submitting(generation: Generation, exc: GMIError) -> None:
    """The last attempt failed. An earlier one may still have reached the service (a
    timeout, a 5xx after the fact): adopt what it sent rather than lose a paid request."""
    try:
        remote = find_earlier_submission(GMIClient.from_settings(), generation)
    except GMIError as list_error:
        logger.warning("Generation %s: could not look for an earlier submission (%s)", generation.pk, list_error)
        remote = None
    if remote is not None and (record_or_cancel(generation, remote) or generation.status == "cancelled"):
        return
    generation.fail(f"{describe(exc)} Gave up after {generation.submit_attempts} attempts.")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def cancel_request(request_id: str, generation_id: int | None = None) -> None:
    """Best effort: stop the service working on (and charging for) what nobody waits for.
    A cancel the service refuses is not tried again: the studio stops following the request
    all the same, and the generation says the service may still finish it."""
    try:
        stopped = GMIClient.from_settings().cancel(request_id)
    except GMIError as exc:
        logger.warning("Could not cancel request %s at the service: %s", request_id, exc)
        note = failures.MAY_STILL_FINISH.format(reason=exc.message.rstrip("."))
    else:
        note = failures.STOPPED if stopped else failures.ALREADY_OVER
    if generation_id is not None and (generation := Generation.objects.filter(pk=generation_id).first()):
        generation.answer_cancel(note)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def cancel_unrecorded_submission(generation_id: int) -> None:
    """A generation cancelled while a worker was sending it, and still without a request id
    once that worker's claim ran out: the worker may have died after sending. Cancel at the
    service what it sent, if the list of requests shows it."""
    generation = Generation.objects.filter(
        pk=generation_id, status=Generation.Status.CANCELLED, request_id__isnull=True, claimed_at__isnull=False
    ).first()
    if generation is None:
        return
    try:
        remote = find_earlier_submission(GMIClient.from_settings(), generation)
    except GMIError as exc:
        logger.warning("Generation %s: could not look for what its cancelled submit sent (%s)", generation_id, exc)
        return
    if remote is not None:
        generation.ask_service_to_cancel(remote.request_id)


@shared_task(ignore_result=True)
def refresh_due_generations() -> dict:
    """Beat's tick. Not acks_late: a tick lost with its worker is replaced by the next one.

    Each tick is also the workers' heartbeat for /health/: it proves that beat and a worker live.
    """
    record_heartbeat()
    return asdict(poller.refresh_due())


@shared_task(acks_late=True, reject_on_worker_lost=True)
def store_generation(generation_id: int, token: str) -> str:
    started = time.monotonic()
    with log_context(generation_id=generation_id):
        outcome = storing.store_files(generation_id, token)
    metrics.observe(metrics.STORE_SECONDS, time.monotonic() - started, outcome.replace(" ", "_"))
    return outcome


@shared_task
def recover_stalled_generations() -> dict[str, int]:
    """Run by beat: send what was never queued or was lost, end generations never sent and
    now too old, and remove the temporary files of downloads a killed worker left behind.

    Generations at the service need no recovery: the tick finds them due whatever happened.
    """
    now = timezone.now()
    expired = sum(generation.fail_past_deadline() for generation in Generation.objects.past_deadline(now))
    submits = list(Generation.objects.stalled_submissions(now).values_list("pk", flat=True))
    for pk in submits:
        submit_generation.delay(pk)
    return {"expired": expired, "submits": len(submits), "downloads_removed": storing.remove_abandoned_downloads()}
