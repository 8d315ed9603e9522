"""Chaos at scale: generations through API faults, worker SIGKILLs and a Redis restart.

    python bench/chaos.py [--generations 200] [--seed 2026] [--quick] [--keep]

`tests/test_chaos.py` at scale. Starts, in a temporary directory (removed at the end unless
--keep), a Redis, the emulator over HTTPS, a SQLite database, one `celery worker
--concurrency=2` (all three queues) and `celery beat`, with the tests' short timeouts and
leases, so that what a dead worker held comes back within seconds rather than minutes. Then it
asks for --generations videos (every shape and length, each prompt unique) at random moments
of a chaos window while a schedule injects faults: 5xx on every endpoint (and a storm of
them), bursts of 429, jobs that fail, never finish (the deadline ends them) or are cancelled
by the service, three SIGKILLs of the worker (each followed by a replacement) and one restart
of Redis (which keeps nothing: every queued task is lost). After the window every fault is
switched off, and it waits until every generation is final (or a bound passes).

It prints what was injected (the configured schedule; the emulator's API calls by endpoint,
and its 429 and 5xx answers, counted from its access log), then, against the emulator's state:
  lost        not final at the end; or final, but with no matching final state at the emulator
              (a request it does not know, one still running that the studio did not give up
              on, a prompt it received from a generation the studio says was never sent, or a
              success without a stored video)
  duplicated  generations whose prompt the emulator received more than once
  wrong       studio and emulator both final, and disagreeing (a generation failed for its
              deadline may be cancelled or still processing at the emulator: the studio
              cancels what it stops waiting for, best effort)
and the time until everything was final, the worker logs' warnings and errors, and whether any
process died unexpectedly. Asserts nothing. --quick: 40 generations, 4 s jobs, a 60 s window.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_live import Processes, in_scratch_directory, log, studio_env  # noqa: E402  (bench/, beside this script)
from measure import spread  # noqa: E402

from gmi_emulator import API_PREFIX  # noqa: E402
from gmi_emulator.api import route  # noqa: E402
from gmi_emulator.testing import EmulatorProcess  # noqa: E402
from kling_studio.localservices import free_port, start_redis  # noqa: E402

SHAPES = [(duration, ratio) for ratio in ("16:9", "9:16", "1:1") for duration in ("5", "10")]
# The tests' worker timings (tests/conftest.py), a production-like 1 s tick, recovery every 5 s.
WORKER_SETTINGS = {
    "GMI_CONNECT_TIMEOUT": "1", "GMI_READ_TIMEOUT": "3", "GMI_DOWNLOAD_TIMEOUT": "10",
    "GENERATION_REFRESH_INTERVAL": "1", "GENERATION_REFRESH_LEASE": "9", "GENERATION_SUBMIT_LEASE": "13",
    "GENERATION_RECOVERY_INTERVAL": "5", "CELERY_VISIBILITY_TIMEOUT": "300",
}  # fmt: skip
BASELINE = {"error_rate": 0.1, "fail_rate": 0.08, "stuck_rate": 0.05, "cancel_rate": 0.08, "latency": 0.2}
CALM = {"error_rate": 0.0, "fail_rate": 0.0, "stuck_rate": 0.0, "cancel_rate": 0.0, "latency": 0.0, "rate_limit": 0}
# The emulator's access log: `127.0.0.1 - [date] "GET /api/v1/apikey/requests/… HTTP/1.1" 429 -`
ACCESS_LINE = re.compile(rf'"(?P<method>[A-Z]+) (?P<path>{re.escape(API_PREFIX)}\S*) HTTP/[\d.]+" (?P<status>\d{{3}})')
REDIS_DOWN = 5.0  # seconds
PROBLEM_LINE = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


class CountingEmulator(EmulatorProcess):
    """The emulator, counting its API answers by (endpoint, status) from its access log: its
    state counts calls by endpoint, but not the 429s (refused before counting) nor the 5xx."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: Counter[tuple[str, int]] = Counter()

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)
            if match := ACCESS_LINE.search(line):
                path = urlsplit(match["path"]).path[len(API_PREFIX) :].rstrip("/")
                self.answers[route(match["method"], path)[0] or "other", int(match["status"])] += 1


class Redis:
    """The bench's Redis, stopped and started again on the same port (keeping nothing)."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.port = directory, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = start_redis(self.port, directory)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def start(self) -> None:
        self.process = start_redis(self.port, self.directory)


@dataclass
class Chaos:
    """The studio's processes, the faults applied so far, and the generations asked for."""

    args: argparse.Namespace
    processes: Processes
    emulator: CountingEmulator
    redis: Redis
    owner: Any
    team: Any
    worker: subprocess.Popen | None = None
    beat: subprocess.Popen | None = None
    workers: int = 0
    beats: int = 0
    asked: list[int] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)  # the configured schedule, as it ran
    kills: list[int] = field(default_factory=list)  # claimed, unsent submissions at each kill
    not_queued: int = 0  # submit tasks that could not be queued (Redis away): recovery sends them
    deaths: list[str] = field(default_factory=list)  # processes found dead that nobody killed
    started: float = field(default_factory=time.monotonic)

    def at(self) -> str:
        return f"t={time.monotonic() - self.started:5.1f} s"

    def start_worker(self) -> None:
        self.workers += 1
        celery = ["celery", "-A", "kling_studio", "worker", "--concurrency=2", "--loglevel=INFO"]
        self.worker = self.processes.start(f"worker-{self.workers}", *celery)

    def start_beat(self) -> None:
        self.beats += 1
        schedule = str(self.processes.directory / f"beat-schedule-{self.beats}")
        celery = ["celery", "-A", "kling_studio", "beat", "--schedule", schedule, "--loglevel=INFO"]
        self.beat = self.processes.start(f"beat-{self.beats}", *celery)

    def configure(self, label: str, **changes: Any) -> None:
        self.emulator.configure(**changes)
        self.applied.append(f"{self.at()}  {label}")
        log(label)

    def kill_worker(self) -> None:
        """SIGKILL the worker's process group, mid-work, as a crash would; then a replacement."""
        from generations.models import Generation

        assert self.worker is not None
        unsent = Generation.objects.filter(status=Generation.Status.SUBMITTING, request_id__isnull=True).count()
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)
        self.kills.append(unsent)
        log(f"worker-{self.workers} SIGKILLed ({unsent} claimed, unsent submissions); starting a replacement")
        self.applied.append(f"{self.at()}  SIGKILL of worker-{self.workers}, a replacement started")
        self.start_worker()

    def stop_redis(self) -> None:
        self.redis.stop()
        self.applied.append(f"{self.at()}  Redis stopped (everything queued in it is lost)")
        log("Redis stopped")

    def start_redis(self) -> None:
        self.redis.start()
        self.applied.append(f"{self.at()}  Redis started again")
        log("Redis started again")

    def ask(self) -> None:
        """A row, then its submit task, as the create view does."""
        from generations.models import Generation
        from generations.tasks import queue_submission

        n = len(self.asked)
        duration, ratio = SHAPES[n % len(SHAPES)]
        generation = Generation.objects.create(
            created_by=self.owner, team=self.team, duration=duration, aspect_ratio=ratio,
            prompt=f"chaos {n}: a {ratio} {duration} s clip of a lighthouse in a storm, seen from a boat",
        )  # fmt: skip
        self.asked.append(generation.pk)
        self.not_queued += not queue_submission(generation.pk)

    def check_processes(self) -> None:
        """Note (once) any process that died although nobody killed it, and replace a worker or beat."""
        for name, process, restart in (
            (f"worker-{self.workers}", self.worker, self.start_worker),
            (f"beat-{self.beats}", self.beat, self.start_beat),
            ("emulator", self.emulator.process, None),
            ("redis", self.redis.process, None),
        ):
            if process is not None and process.poll() is not None:
                self.deaths.append(f"{name} exited with {process.returncode} at {self.at()}")
                log(f"UNEXPECTED: {self.deaths[-1]}")
                if restart is None:
                    raise RuntimeError(f"{name} died; the benchmark cannot go on")
                restart()


def schedule(chaos: Chaos, window: float, burst: float) -> list[tuple[float, Callable[[], Any]]]:
    """The faults, at moments of the chaos window: (seconds from the start, what to do)."""

    def storm_on() -> None:
        chaos.configure(f"a 5xx storm: 40 % of the calls to every endpoint, for {burst:g} s", error_rate=0.4)

    def burst_on() -> None:
        chaos.configure(f"a 429 burst: at most 3 API requests per 3 s, for {burst:g} s", rate_limit=3, rate_window=3.0)

    baseline = ", ".join(f"{name} {value:g}" for name, value in BASELINE.items())
    return [
        (0.0, lambda: chaos.configure(f"baseline faults: {baseline} (5xx on every endpoint)", **BASELINE)),
        (0.15 * window, chaos.kill_worker),
        (0.25 * window, burst_on),
        (0.25 * window + burst, lambda: chaos.configure("429 burst over", rate_limit=0)),
        (0.40 * window, chaos.stop_redis),
        (0.40 * window + REDIS_DOWN, chaos.start_redis),
        (0.50 * window, storm_on),
        (0.50 * window + burst, lambda: chaos.configure("5xx storm over", error_rate=BASELINE["error_rate"])),
        (0.60 * window, chaos.kill_worker),
        (0.72 * window, burst_on),
        (0.72 * window + burst, lambda: chaos.configure("429 burst over", rate_limit=0)),
        (0.85 * window, chaos.kill_worker),
        (window, lambda: chaos.configure("every fault off", **CALM)),
    ]


def run(chaos: Chaos, window: float, burst: float, wait: float) -> tuple[float, float]:
    """Ask, inject, then wait until every generation is final; returns (calm at, all final at)."""
    from generations.models import Generation

    rng = random.Random(chaos.args.seed)
    asks = sorted(rng.uniform(0, 0.9 * window) for _ in range(chaos.args.generations))
    events = sorted(schedule(chaos, window, burst), key=lambda event: event[0])
    chaos.started = time.monotonic()
    while asks or events:
        now = time.monotonic() - chaos.started
        while asks and asks[0] <= now:
            asks.pop(0)
            chaos.ask()
        while events and events[0][0] <= now:
            events.pop(0)[1]()
        chaos.check_processes()
        time.sleep(0.05)
    calm_at = time.monotonic() - chaos.started
    rows = Generation.objects.filter(pk__in=chaos.asked)
    give_up_at, report_at = time.monotonic() + wait, time.monotonic() + 30
    while (left := rows.exclude(status__in=Generation.FINAL).count()) and time.monotonic() < give_up_at:
        if time.monotonic() > report_at:
            statuses = dict(Counter(rows.values_list("status", flat=True)))
            log(f"  waiting for {left} of {len(chaos.asked)} to be final: {statuses}")
            report_at += 30
        chaos.check_processes()
        time.sleep(0.5)
    if left:
        log(f"  gave up after {wait:.0f} s: {left} not final")
    return calm_at, time.monotonic() - chaos.started


def judge(generation: Any, state: dict[str, Any]) -> str | None:
    """'lost', 'wrong' or None (the studio and the emulator agree): see the module's docstring."""
    if not generation.is_final:
        return "lost"
    if generation.request_id is None:  # failed before being sent: the emulator must never have seen it
        return "lost" if state["submissions_by_prompt"].get(generation.prompt) else None
    remote = state["requests"].get(generation.request_id)
    expected = {"success": {"success"}, "cancelled": {"cancelled"}, "failed": {"failed"}}[generation.status]
    if generation.status == "failed" and generation.is_past_deadline:
        expected = {"failed", "cancelled", "processing"}
    if remote not in expected:
        return "wrong" if remote in ("success", "failed", "cancelled") else "lost"
    if generation.status == "success" and not (generation.video and generation.video.size > 0):
        return "lost"
    return None


def figure(label: str, value: object) -> None:
    print(f"{label:<24}{value}")


def report(chaos: Chaos, calm_at: float, ended_at: float) -> None:
    from django.conf import settings

    from generations.models import Generation

    state = chaos.emulator.state()
    rows = list(Generation.objects.filter(pk__in=chaos.asked))
    verdicts = Counter(judge(g, state) for g in rows)
    sent = state["submissions_by_prompt"]
    duplicated = {g.prompt: sent[g.prompt] for g in rows if sent.get(g.prompt, 0) > 1}
    answers = chaos.emulator.answers
    errors = Counter({name: n for (name, status), n in answers.items() if status >= 500})
    outcomes = Counter(
        "failed, never sent" if g.status == "failed" and not g.request_id
        else "failed past its deadline" if g.status == "failed" and g.is_past_deadline
        else g.status
        for g in rows
    )  # fmt: skip
    print(f"\n=== Chaos: {len(rows)} generations (seed {chaos.args.seed}{', --quick' if chaos.args.quick else ''}) ===")
    figure("generations", f"{len(rows)} ({len(SHAPES)} shapes and lengths in turn, every prompt unique)")
    print("faults injected, as configured (t from the first ask):")
    print("".join(f"    {line}\n" for line in chaos.applied), end="")
    figure("  emulator API calls", f"{dict(sorted(state['calls'].items()))} (answered or not, 429s aside)")
    figure("  answered 429", sum(n for (_, status), n in answers.items() if status == 429))
    figure("  answered 5xx", f"{sum(errors.values())} {dict(sorted(errors.items()))}")
    figure("  jobs at the emulator", f"{dict(Counter(state['requests'].values()))} (stuck ones stay processing)")
    figure("worker kills", f"{len(chaos.kills)} (SIGKILL; claimed, unsent submissions at each: {chaos.kills})")
    restarts = sum("Redis started again" in line for line in chaos.applied)
    figure(
        "Redis restarts", f"{restarts} (down {REDIS_DOWN:g} s; {chaos.not_queued} submit tasks not queued meanwhile)"
    )
    figure("lost", verdicts["lost"])
    figure("duplicated", f"{len(duplicated)} ({sum(duplicated.values()) - len(duplicated)} extra submissions)")
    figure("wrong final status", verdicts["wrong"])
    for g in [g for g in rows if judge(g, state) or g.prompt in duplicated][:10]:
        remote = state["requests"].get(g.request_id or "", "never sent")
        print(f"    generation {g.pk}: studio {g.status} ({g.failure_reason[:70]}), emulator {remote}, "
              f"{sent.get(g.prompt, 0)} submission(s)")  # fmt: skip
    figure("studio outcomes", f"{dict(outcomes)} (deadline {settings.GENERATION_DEADLINE:g} s)")
    if all(g.finished_at for g in rows):
        last = (max(g.finished_at for g in rows) - min(g.created_at for g in rows)).total_seconds()
        figure("time until all final", f"{last:.1f} s from the first ask, {last - calm_at:.1f} s after the faults")
    else:
        unfinished = sum(not g.finished_at for g in rows)
        figure("time until all final", f"never: {unfinished} still unfinished after {ended_at:.0f} s")
    figure(
        "  each, created->final",
        spread([(g.finished_at - g.created_at).total_seconds() for g in rows if g.finished_at]),
    )
    for name in ("worker", "beat"):
        logs = sorted(chaos.processes.directory.glob(f"{name}-*.log"))
        lines = [line for path in logs for line in path.read_text(errors="replace").splitlines()]
        problems = [line for line in lines if PROBLEM_LINE.search(line)]
        kinds = Counter(re.sub(r"\d+", "N", re.sub(r"^\[[^]]*\]\s*", "", line))[:110] for line in problems)
        figure(f"{name} logs", f"{len(problems)} warning/error/traceback lines in {len(logs)} logs; most common:")
        print("".join(f"    {n:5d} x {kind}\n" for kind, n in kinds.most_common(6)), end="")
    figure("processes died", "; ".join(chaos.deaths) or "none, but the workers killed on purpose")


def start(directory: Path, stack: ExitStack, args: argparse.Namespace, deadline: float, job: float) -> Chaos:
    """Redis, the emulator, the database, a worker and beat, all stopped when `stack` closes."""
    redis = Redis(directory / "redis")
    stack.callback(redis.stop)
    emulator = CountingEmulator(api_key="bench-key", queue_seconds=1.0, processing_seconds=job, seed=args.seed,
                                tls=True)  # fmt: skip
    stack.enter_context(emulator)
    env = studio_env(directory, redis.url, emulator, **WORKER_SETTINGS, GENERATION_DEADLINE=str(deadline))
    from django.contrib.auth import get_user_model

    processes = Processes(directory, {**env, "DEBUG": "False", "SECRET_KEY": secrets.token_urlsafe(32)})
    stack.callback(processes.stop_all)
    from accounts.models import Team

    owner = get_user_model().objects.create_user("chaos", password=secrets.token_urlsafe(16))
    chaos = Chaos(args, processes, emulator, redis, owner, Team.objects.for_user(owner).get())
    chaos.start_worker()
    log_file, ready_by = directory / "worker-1.log", time.monotonic() + 60
    while b"ready." not in log_file.read_bytes():
        if chaos.worker.poll() is not None or time.monotonic() > ready_by:
            raise RuntimeError(f"the worker did not start:\n{log_file.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    chaos.start_beat()
    log(f"Redis on :{redis.port}, the emulator at {emulator.root_url}, worker-1 ready, beat started")
    return chaos


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--generations", type=int, help="how many to ask for (default 200; quick 40)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the asking moments and the emulator")
    parser.add_argument("--quick", action="store_true", help="40 generations, 4 s jobs, a 60 s chaos window")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args()
    args.generations = args.generations or (40 if args.quick else 200)
    # The chaos window, a burst's length, a job's processing time, and the deadline: beyond any
    # job's delay by the chaos (and the emulator's render queue), so that only stuck jobs reach it.
    window, burst, job, deadline = (60.0, 8.0, 4.0, 90.0) if args.quick else (240.0, 15.0, 20.0, 180.0)

    def body(directory: Path, stack: ExitStack) -> None:
        chaos = start(directory, stack, args, deadline, job)
        calm_at, ended_at = run(chaos, window, burst, wait=deadline + 120)
        report(chaos, calm_at, ended_at)

    return in_scratch_directory("bench-chaos-", args.keep, body)


if __name__ == "__main__":
    sys.exit(main())
