"""Chaos in one run: API faults, a worker SIGKILLed mid-work, and Redis restarting.

Three dozen generations of every shape and length go through real worker and beat processes
while the emulator answers 5xx on every endpoint, a burst of 429s, and fails, cancels or
never finishes some jobs; meanwhile the worker is killed (a replacement takes over) and Redis
restarts, losing every task it held. Once the faults stop, every generation must end, agree
with what the service says of its request, and have been sent exactly once (or never, if it
failed before being sent). `bench/chaos.py` runs the same scenario at scale.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from generations.models import Generation
from generations.tasks import queue_submission
from tests.conftest import CeleryFactory, wait_for
from tests.factories import make_generation

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Stuck jobs must end failed within the test, so the deadline is short; it is still well beyond
# what the chaos can hold up any other job (a dead worker's submit claim runs out after 13 s,
# a 429 pauses the fleet for at most 3 s, Redis is away for 3 s, recovery runs every 3 s), and
# beyond the emulator's renders, which on a busy 2-core machine end up to 50 s after the ask.
DEADLINE = 90.0
CHAOS_SETTINGS = {"GENERATION_DEADLINE": str(DEADLINE), "GENERATION_RECOVERY_INTERVAL": "3"}
# A 5xx on 20 % of the calls to every endpoint, and jobs that fail, are cancelled or never end.
# The latency holds each call open after the emulator has handled it, so that a worker killed
# while submitting has most likely sent a request it did not live to record.
FAULTS = {
    "error_rate": 0.2, "fail_rate": 0.12, "cancel_rate": 0.12, "stuck_rate": 0.12, "latency": 0.3,
    "processing_seconds": 3.0,
}  # fmt: skip
CALM = {"error_rate": 0.0, "fail_rate": 0.0, "cancel_rate": 0.0, "stuck_rate": 0.0, "latency": 0.0, "rate_limit": 0}
SHAPES = [(duration, ratio) for ratio in ("16:9", "9:16", "1:1") for duration in ("5", "10")]
# What the emulator may say of the request of a generation that ended with each status. One
# failed for its deadline may be stuck (or was cancelled by the studio, as it asks).
AGREEING = {
    Generation.Status.SUCCESS: {"success"},
    Generation.Status.CANCELLED: {"cancelled"},
    Generation.Status.FAILED: {"failed"},
}
PAST_DEADLINE = {"failed", "cancelled", "processing"}
# What the workers log when the chaos reaches them (counted for the summary printed under -s).
SETBACKS = {
    "adopted": "sent by an earlier attempt", "submit retries": "; retrying in", "429 pauses": "rate-limited",
    "list failures": "Listing requests failed", "cancel failures": "Could not cancel",
}  # fmt: skip


@pytest.fixture
def chaotic_api(studio_api) -> Iterator:
    """The emulator, fresh, and put back as it started after the test, whatever happened."""
    yield studio_api
    studio_api.reset()


@pytest.fixture
def chaos_celery(worker_factory) -> Iterator[CeleryFactory]:
    """Starts Celery worker and beat processes as `worker_factory` does, with CHAOS_SETTINGS too;
    stops them after. (The session's worker cannot be given another deadline, so this test brings
    its own; if an earlier test started the session's worker, it serves the same queues: harmless.)"""
    factory = CeleryFactory({**worker_factory.env, **CHAOS_SETTINGS})
    yield factory
    for process in factory.processes:
        process.stop()


def disagreement(generation: Generation, state: dict) -> str | None:
    """What is wrong with how `generation` ended, against the emulator's `state`; None if nothing."""
    sent = state["submissions_by_prompt"].get(generation.prompt, 0)
    what = f"generation {generation.pk} ({generation.prompt!r}) ended {generation.status}"
    what += f" ({generation.failure_reason})" if generation.failure_reason else ""
    if not generation.is_final:
        return f"generation {generation.pk} ({generation.prompt!r}) is still {generation.status}"
    if generation.request_id is None:
        if sent:
            return f"{what} with no request id, but the emulator received its prompt {sent} time(s)"
        return None if generation.status == Generation.Status.FAILED else f"{what} without being sent"
    if sent != 1:
        return f"{what}, and the emulator received its prompt {sent} times"
    remote = state["requests"].get(generation.request_id)
    agreeing = AGREEING[generation.status]
    if generation.status == Generation.Status.FAILED and generation.is_past_deadline:
        agreeing = PAST_DEADLINE
    if remote not in agreeing:
        return f"{what}, but the emulator says its request {generation.request_id} is {remote}"
    if generation.status == Generation.Status.SUCCESS and not (generation.video and generation.video.size > 0):
        return f"{what} with no stored video"
    return None


def test_through_api_faults_a_killed_worker_and_a_redis_restart_each_generation_ends_right_and_is_sent_once(
    chaotic_api, redis_server, chaos_celery, django_user_model, settings
):
    studio_api = chaotic_api
    settings.GENERATION_DEADLINE = DEADLINE  # as the workers have it, for `is_past_deadline` here
    owner = django_user_model.objects.create_user("chaos", password="a long enough password")
    killed, beat = chaos_celery(), chaos_celery.beat()
    asked: list[Generation] = []

    def ask_for(count: int) -> None:
        """As the create view does: a row, then its submit task (not queued while Redis is away)."""
        for _ in range(count):
            duration, ratio = SHAPES[len(asked) % len(SHAPES)]
            prompt = f"chaos {len(asked)}: a {ratio} {duration} s clip of a lighthouse in a storm"
            asked.append(make_generation(owner, prompt=prompt, duration=duration, aspect_ratio=ratio))
            queue_submission(asked[-1].pk)

    studio_api.configure(**FAULTS)
    try:
        ask_for(12)
        wait_for(lambda: studio_api.state()["submissions"] >= 4, timeout=30, message="submissions under way")
        killed.kill()  # SIGKILL, mid-submit: its claims and unacknowledged tasks are left behind
        worker = chaos_celery()
        ask_for(12)
        studio_api.configure(rate_limit=2, rate_window=3.0)  # a burst of 429s: the fleet pauses, again and again
        time.sleep(8)
        studio_api.configure(rate_limit=0)
        redis_server.stop()  # the queued tasks, the fleet's pause and the workers' connections go
        ask_for(4)  # saved, not queued: the rows are the outbox, and recovery sends them
        time.sleep(3)
        redis_server.start()
        ask_for(8)
        time.sleep(5)
    finally:
        studio_api.configure(**CALM)
        if redis_server.process.poll() is not None:  # the session's Redis stays up for the next tests
            redis_server.start()

    give_up_at = time.monotonic() + 150  # what is still unfinished then is reported below
    ended = list(Generation.objects.filter(pk__in=[g.pk for g in asked]))
    while not all(g.is_final for g in ended) and time.monotonic() < give_up_at:
        time.sleep(0.5)
        ended = list(Generation.objects.filter(pk__in=[g.pk for g in asked]))
    # The studio cancels what it stopped waiting for; give those cancellations a moment to land.
    past_deadline = {g.request_id for g in ended if g.request_id and g.is_past_deadline}
    for _ in range(50):
        if all(studio_api.state()["requests"].get(r) != "processing" for r in past_deadline):
            break
        time.sleep(0.2)

    state = studio_api.state()
    problems = [problem for generation in ended if (problem := disagreement(generation, state))]
    mix = Counter((g.status, state["requests"].get(g.request_id or "", "never sent")) for g in ended)
    setbacks = {kind: "".join(p.output() for p in (killed, worker)).count(line) for kind, line in SETBACKS.items()}
    print(f"\n{len(ended)} generations, (studio, emulator): {dict(mix)}; API calls: {state['calls']}; {setbacks}")
    logs = f"\nworker:\n{worker.output()[-4000:]}\nbeat:\n{beat.output()[-1500:]}"
    assert not problems, "\n".join(problems) + logs
    assert len(ended) == 36 and len(state["submissions_by_prompt"]) == sum(g.request_id is not None for g in ended)
    for process in (worker, beat):  # the replacement worker and beat lived through it all
        assert process.process.poll() is None, process.output()[-3000:]
        assert "Unrecoverable error" not in process.output()
