"""The fleet poller: the database is the schedule.

Every generation at the service keeps `next_poll_at`. Beat runs a tick every
GENERATION_REFRESH_INTERVAL seconds; the tick takes the rows that are due (a claim, so two
ticks never hold the same row), asks the service about all of them at once (one list call
when several are due; one GET each, up to a cap, for those the list did not show or a
single one), acts on the answers, and makes the rest due again. The number of API calls
follows the tick rate, not the number of generations in flight.

A worker that dies mid-tick loses nothing: its rows are due again when the tick's hold on
them ends. A 429 pauses the whole fleet (submissions too) for its Retry-After.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from redis import RedisError

from generations.gmi import GMIClient, GMIError, NotFoundError, RateLimitedError, RemoteRequest, RemoteStatus, describe
from generations.models import REFRESHED, Generation, next_refresh_after
from kling_studio.observability import log_context

logger = logging.getLogger(__name__)

PAUSE_KEY = "gmi-fleet-paused-until"
PAUSE_WITHOUT_RETRY_AFTER = 5.0  # seconds, when a 429 does not say how long
LONGEST_PAUSE = 300.0  # a Retry-After beyond this is taken as this


@dataclass
class TickReport:
    """What one tick did, for its log line and the tests."""

    claimed: int = 0
    calls: int = 0
    answered: int = 0
    changed: int = 0
    to_store: int = 0
    ended: int = 0
    paused_for: float = 0.0


def refresh_due(client: GMIClient | None = None) -> TickReport:
    report = TickReport(paused_for=fleet_pause_remaining())
    if report.paused_for > 0:
        return report
    batch = Generation.objects.claim_due(settings.GENERATION_REFRESH_BATCH)
    report.claimed = len(batch)
    if not batch:
        return report
    token = batch[0].lease_token
    started = timezone.now()
    answers, ended = _ask(client or GMIClient.from_settings(), batch, report)
    next_poll_at = next_refresh_after(started)
    unchanged = []
    for generation in batch:
        if (remote := answers.get(generation.request_id)) is None:
            continue
        with log_context(generation):
            outcome = follow(generation, remote, token, next_poll_at)
        report.answered += 1
        report.changed += outcome == "changed"
        report.to_store += outcome == "stored"
        report.ended += outcome == "ended"
        if outcome == "unchanged":
            unchanged.append(generation.pk)
    Generation.objects.release(token, unchanged, next_poll_at, **REFRESHED)
    # Not asked about this tick (over the cap, or the service did not answer): due again at
    # once, and first in line, as they were asked about longest ago.
    unasked = [g.pk for g in batch if g.request_id not in answers and g.pk not in ended]
    paused_until = started + timedelta(seconds=fleet_pause_remaining())
    Generation.objects.release(token, unasked, max(started, paused_until))
    report.ended += len(ended)
    logger.log(logging.INFO if report.changed or report.to_store or report.ended else logging.DEBUG, "%s", report)
    return report


def _ask(client: GMIClient, batch: list[Generation], report: TickReport) -> tuple[dict[str, RemoteRequest], set[int]]:
    """The service's answers for the batch, by request id, and the rows ended on the way."""
    answers: dict[str, RemoteRequest] = {}
    ended: set[int] = set()
    # Never start a call that could outlast the tick's hold on its rows.
    last_call_by = time.monotonic() + settings.GENERATION_REFRESH_LEASE - sum(client.timeout) - 1
    wanted = {generation.request_id for generation in batch}
    try:
        if len(batch) > 1:
            for model_id in sorted({generation.model_id for generation in batch}):
                if time.monotonic() > last_call_by:
                    break
                report.calls += 1
                try:
                    listed = client.list_requests(model_id)
                except RateLimitedError:
                    raise
                except GMIError as exc:  # the GETs below may still get through
                    logger.warning("Listing requests failed (%s); asking one by one", exc)
                    continue
                # A success without its outcome (a summary list) needs a GET of its own.
                answers.update(
                    (remote.request_id, remote)
                    for remote in listed
                    if remote.request_id in wanted and (remote.status != RemoteStatus.SUCCESS or remote.outcome)
                )
        unlisted = [generation for generation in batch if generation.request_id not in answers]
        for generation in unlisted[: settings.GENERATION_REFRESH_SINGLE_GETS]:
            if time.monotonic() > last_call_by:
                break
            report.calls += 1
            try:
                with log_context(generation):
                    answers[generation.request_id] = client.get_request(generation.request_id)
            except NotFoundError as exc:
                if generation.fail(describe(exc)):
                    ended.add(generation.pk)
    except RateLimitedError as exc:
        paused = pause_fleet(exc.retry_after)
        logger.warning("The video service rate-limited the studio; every API call waits %.0f s", paused)
    except GMIError as exc:
        logger.warning("Refreshing %d generations failed (%s); they are due again", len(batch), exc)
    return answers, ended


def follow(generation: Generation, remote: RemoteRequest, token: str, next_poll_at) -> str:
    """Act on what the service said about a generation this tick holds."""
    changes = generation.remote_changes(remote)
    if remote.status == RemoteStatus.SUCCESS:
        if remote.outcome is None:
            generation.fail("The video service reported success but gave no video.")
            return "ended"
        if store_token := generation.hold_for_store(token, remote.outcome, changes):
            from generations.tasks import store_generation

            transaction.on_commit(lambda: store_generation.delay(generation.pk, store_token))
        return "stored"
    if remote.status in (RemoteStatus.FAILED, RemoteStatus.CANCELLED):
        generation.fail_as_reported(remote)
        return "ended"
    if generation.is_past_deadline:  # the service was asked just now, and it is still unfinished
        if generation.fail_past_deadline():
            from generations.tasks import queue_cancellation

            transaction.on_commit(lambda: queue_cancellation(generation.request_id))
        return "ended"
    if changes:
        generation.refreshed(token, next_poll_at, changes)
        return "changed"
    return "unchanged"


def pause_fleet(retry_after: float | None) -> float:
    """Hold every API call of the studio back for `retry_after` seconds; returns the pause."""
    seconds = min(max(retry_after or PAUSE_WITHOUT_RETRY_AFTER, 1.0), LONGEST_PAUSE)
    until = time.time() + seconds
    try:
        if until > (cache.get(PAUSE_KEY) or 0):
            cache.set(PAUSE_KEY, until, timeout=int(seconds) + 1)
    except RedisError as exc:  # the caller waits its own pause all the same
        logger.warning("Could not record the fleet's pause: %s", exc)
    return seconds


def fleet_pause_remaining() -> float:
    """How long every API call must still wait; nothing, when Redis cannot say."""
    try:
        until = cache.get(PAUSE_KEY)
    except RedisError as exc:
        logger.warning("Could not read the fleet's pause: %s", exc)
        return 0.0
    return max(0.0, until - time.time()) if isinstance(until, float | int) else 0.0
