"""The job store: submitted requests, their timing, fates and renders.

A job's status is computed from the clock when it is read: queued for the
queue time captured at submit, then processing for the processing time, then
final according to the fate drawn at submit. A successful job also needs its
render to have finished; until then it stays processing. A client can cancel a
job that is not final yet (``DELETE``): it is then cancelled from that moment on,
whatever its fate, and its render is stopped.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from gmi_emulator.config import FaultConfig

FAILURE_REASONS = (
    "Content moderation rejected the prompt",
    "Video generation failed on worker: out of memory",
    "Video generation timed out on worker",
)
CANCELLED_REASON = "Request was cancelled"
CANCELLED_BY_CLIENT_REASON = "Request was cancelled by the client"
FINAL_STATUSES = ("success", "failed", "cancelled")

RenderStarter = Callable[[str, dict[str, Any]], "Future[dict[str, Any]]"]
RenderStopper = Callable[[str, "Future[dict[str, Any]]", bool], None]  # (request id, render, discard its files)


class RenderStopped(Exception):
    """Raised by a render that was told to stop (its request was cancelled)."""


@dataclass
class Job:
    request_id: str
    model: str
    payload: dict[str, Any]
    fate: str  # "success", "failed", "cancelled" or "stuck"
    failure_reason: str
    created: float
    queue_seconds: float
    processing_seconds: float
    worker_id: str
    sequence: int
    render: Future[dict[str, Any]] | None = None
    render_finished_at: float | None = None
    render_error: str | None = None
    cancelled_at: float | None = None  # when a client cancelled it

    def started(self, now: float) -> bool:
        """Whether a worker picked it up by ``now`` (it left the queue, and not after a cancellation)."""
        began = self.created + self.queue_seconds
        return now >= began and (self.cancelled_at is None or self.cancelled_at >= began)

    def finished_at(self) -> float:
        """When the job became final (once it is): the end of processing, or of its render if later."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        ended = self.created + self.queue_seconds + self.processing_seconds
        if self.fate == "success" and self.render_finished_at is not None:
            return max(ended, self.render_finished_at)
        return ended

    def snapshot(self, now: float) -> tuple[str, float, str | None]:
        """``(status, updated_at, error)`` as of ``now``; status is a documented one."""
        if self.cancelled_at is not None:
            return "cancelled", self.cancelled_at, CANCELLED_BY_CLIENT_REASON
        started = self.created + self.queue_seconds
        ended = started + self.processing_seconds
        if now < started:
            return "queued", self.created, None
        if now < ended or self.fate == "stuck":
            return "processing", started, None
        if self.fate == "failed":
            return "failed", ended, self.failure_reason
        if self.fate == "cancelled":
            return "cancelled", ended, CANCELLED_REASON
        finished = self.render_finished_at
        if finished is None:
            return "processing", started, None
        if self.render_error is not None:
            return "failed", max(ended, finished), self.render_error
        return "success", max(ended, finished), None


@dataclass
class Counters:
    submissions: int = 0
    by_prompt: Counter[str] = field(default_factory=Counter)
    polls: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)  # API calls by endpoint, answered or not


class JobStore:
    def __init__(
        self, seed: int | None, start_render: RenderStarter | None, stop_render: RenderStopper | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)  # fates: one draw sequence per submission
        self._fault_rng = random.Random(None if seed is None else seed + 1)  # injected errors
        self._start_render = start_render
        self._stop_render = stop_render
        self._jobs: dict[str, Job] = {}
        self._sequence = 0
        self.counters = Counters()

    def fault_random(self) -> float:
        with self._lock:
            return self._fault_rng.random()

    def fault_choice(self, options: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._fault_rng.choice(options)

    def submit(self, model: str, payload: dict[str, Any], config: FaultConfig) -> Job:
        now = time.time()
        with self._lock:
            roll = self._rng.random()
            if roll < config.fail_rate:
                fate = "failed"
            elif roll < config.fail_rate + config.stuck_rate:
                fate = "stuck"
            elif roll < config.fail_rate + config.stuck_rate + config.cancel_rate:
                fate = "cancelled"
            else:
                fate = "success"
            self._sequence += 1
            job = Job(
                request_id=str(uuid.uuid4()),
                model=model,
                payload=payload,
                fate=fate,
                failure_reason=self._rng.choice(FAILURE_REASONS),
                created=now,
                queue_seconds=config.queue_seconds,
                processing_seconds=config.processing_seconds,
                worker_id=f"emulator-worker-{self._rng.randint(1, 4)}",
                sequence=self._sequence,
            )
            self._jobs[job.request_id] = job
            self.counters.submissions += 1
            self.counters.by_prompt[payload["prompt"]] += 1
        if fate == "success" and self._start_render is not None:
            self._attach_render(job, self._start_render(job.request_id, payload))
        return job

    def _attach_render(self, job: Job, future: Future[dict[str, Any]]) -> None:
        job.render = future

        def done(f: Future[dict[str, Any]]) -> None:
            if f.cancelled():
                job.render_error = "Video generation failed on worker: render was cancelled"
            elif (exc := f.exception()) is not None:
                job.render_error = f"Video generation failed on worker: {type(exc).__name__}: {exc}"
            job.render_finished_at = time.time()

        future.add_done_callback(done)

    def cancel(self, request_id: str, now: float) -> tuple[Job | None, str]:
        """Cancel a job that is queued or processing; returns ``(job, its status before)``.

        ``(None, "")`` for an unknown id; a job that was already final is left as it was.
        """
        with self._lock:
            job = self._jobs.get(request_id)
            if job is None:
                return None, ""
            status = job.snapshot(now)[0]
            if status in FINAL_STATUSES:
                return job, status
            job.cancelled_at = now
        if job.render is not None and self._stop_render is not None:
            self._stop_render(job.request_id, job.render, True)
        return job, status

    def get(self, request_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(request_id)

    def count_poll(self, request_id: str) -> None:
        with self._lock:
            self.counters.polls[request_id] += 1

    def count_call(self, endpoint: str) -> None:
        with self._lock:
            self.counters.calls[endpoint] += 1

    def newest_first(self, model: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if model is None or j.model == model]
        return sorted(jobs, key=lambda j: j.sequence, reverse=True)

    def state(self) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            jobs = list(self._jobs.values())
            counters = self.counters
            result = {
                "submissions": counters.submissions,
                "submissions_by_prompt": dict(counters.by_prompt),
                "polls": dict(counters.polls),
                "calls": dict(counters.calls),
            }
        snapshots = {j.request_id: j.snapshot(now) for j in jobs}
        result["requests"] = {request_id: snapshot[0] for request_id, snapshot in snapshots.items()}
        # Each render's progress: pending, running, done, failed, or stopped (its request was cancelled).
        result["renders"] = {j.request_id: _render_state(j.render) for j in jobs if j.render is not None}
        # When each final request became final, to the microsecond (the API's own times are whole seconds).
        result["finished_at"] = {
            j.request_id: j.finished_at()
            for j in jobs
            if snapshots[j.request_id][0] in ("success", "failed", "cancelled")
        }
        return result

    def reset(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
            self._jobs.clear()
            self._rng = random.Random(self._seed)
            self._fault_rng = random.Random(None if self._seed is None else self._seed + 1)
            self._sequence = 0
            self.counters = Counters()
        for job in jobs:
            if job.render is not None and not job.render.done():
                if self._stop_render is not None:
                    self._stop_render(job.request_id, job.render, False)
                else:
                    job.render.cancel()


def _render_state(render: Future[dict[str, Any]]) -> str:
    if render.cancelled():
        return "stopped"
    if not render.done():
        return "running" if render.running() else "pending"
    exc = render.exception()
    if exc is None:
        return "done"
    return "stopped" if isinstance(exc, RenderStopped) else "failed"
