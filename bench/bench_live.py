"""Benchmark the fleet poller: how soon a finished video is stored and playable, and at what cost.

    python bench/bench_live.py [--quick] [--jobs 20] [--background 1000] [--spacing 3] [--keep]

Starts, in a temporary directory (removed at the end unless --keep), a Redis, the emulator
(queue_seconds 5), a SQLite database, one `celery worker --concurrency=2`, `celery beat` (the
1 s tick) and uvicorn, and drives Chromium through Playwright. Then
  1. quiet: --jobs 2-minute jobs for a person watching the studio page in Chromium and --jobs
     10-minute jobs for another, one every ~--spacing s with jitter (so successes fall at random
     phases of the tick): the emulator's moment of success -> the row's finished_at (stored) and
     -> the first `canplay` of the card's <video> (playable); worker CPU and memory.
  2. loaded: --background generations kept in flight (emulator stuck_rate 1.0), then --jobs
     2-minute jobs: stored latency, API calls per minute in a 60 s window (the fleet's, and per
     generation in flight), submit wait (row created -> submitted_at), worker CPU and memory.
A job's length runs from submit to success. --quick: 20 s and 40 s jobs, 200 in the background,
0.5 s spacing. CPU is the worker's main process plus its pool children (/proc), in percent of one
core over the phase; memory their summed RSS at its peak. Printed against the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from measure import TreeSampler, percentile, spread  # noqa: E402  (bench/, beside this script)

from gmi_emulator.testing import EmulatorProcess  # noqa: E402
from kling_studio.localservices import free_port, start_redis, wait_for_port  # noqa: E402

QUEUE_SECONDS = 5.0
PASSWORD = "bench-live-password-1"
SENT, FINAL = "sent", "final"  # what wait_until waits for: a request id (or an end), or an end
STREAM_OPEN = "document.documentElement.dataset.live === 'stream'"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip
# Capturing listeners (media events do not bubble), on the document, so they outlive htmx
# replacing a card: the first time each event fired per card, in Unix seconds.
MEDIA_LISTENER = """
for (const name of ['loadedmetadata', 'canplay']) {
  document.addEventListener(name, (e) => {
    const card = e.target.closest && e.target.closest('li.card');
    const seen = ((window.__media ||= {})[name] ||= {});
    if (card && !(card.id in seen)) seen[card.id] = Date.now() / 1000;
  }, true);
}
"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def verdict(value: float, target: float) -> str:
    return "meets target" if value <= target else "MISSES TARGET"


class Processes:
    """The bench's own subprocesses, each in a session of its own, stopped group by group."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.started: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, *arguments: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(self.directory / f"{name}.log", "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", *arguments], cwd=ROOT, env=env or self.env, stdout=output,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.started.append((name, process))
        return process

    def stop_all(self) -> None:
        """SIGTERM each process group, then SIGKILL whatever is left of it."""
        for _name, process in reversed(self.started):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with suppress(ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(process.pid, sig)
                    process.wait(20)

    def print_problems(self) -> None:
        for name, _process in self.started:
            text = (self.directory / f"{name}.log").read_text(errors="replace")
            lines = [
                line for line in text.splitlines() if re.search(r"\b(WARNING|ERROR|CRITICAL)[/: ]|Traceback", line)
            ]
            print(f"\n{name} log: {len(lines)} warning/error lines" + "".join(f"\n  {line}" for line in lines[:10]))


@dataclass
class Bench:
    args: argparse.Namespace
    emulator: EmulatorProcess
    sampler: TreeSampler
    rng: random.Random
    page: Any = None  # the Playwright page while one is open: waits go through it, to keep it served

    def sleep(self, seconds: float) -> None:
        self.page.wait_for_timeout(seconds * 1000) if self.page else time.sleep(seconds)

    def jobs_of(self, length: float, stuck_rate: float = 0.0) -> None:
        """Jobs submitted from now on take `length` seconds from submit to success."""
        self.emulator.configure(processing_seconds=max(length - QUEUE_SECONDS, 0), stuck_rate=stuck_rate)

    def submit(self, user, team, count: int, label: str, spaced: bool = True) -> list[int]:
        """Create rows and queue their submit tasks, as the create view does."""
        from generations.models import Generation
        from generations.tasks import submit_generation

        ids = []
        for i in range(count):
            prompt = f"{label} {i + 1}: a paper lantern drifting over a calm lake at night, cinematic"
            generation = Generation.objects.create(
                created_by=user, team=team, prompt=prompt, duration="5", aspect_ratio="16:9"
            )
            submit_generation.delay(generation.pk)
            ids.append(generation.pk)
            if spaced and i < count - 1:
                self.sleep(self.args.spacing * self.rng.uniform(0.5, 1.5))
        return ids

    def wait_until(self, ids: list[int], what: str, timeout: float) -> None:
        """Until every generation in `ids` is `what` (SENT or FINAL), with progress lines."""
        from django.db.models import Q

        from generations.models import Generation

        rows = Generation.objects.filter(pk__in=ids)
        final = Q(status__in=Generation.FINAL)
        condition = final if what == FINAL else final | Q(request_id__isnull=False)
        deadline, report_at = time.monotonic() + timeout, time.monotonic() + 30
        while (left := rows.exclude(condition).count()) and time.monotonic() < deadline:
            if time.monotonic() > report_at:
                statuses = dict(Counter(rows.values_list("status", flat=True)))
                log(f"  waiting for {left} of {len(ids)} to be {what}: {statuses}")
                report_at += 30
            self.sleep(0.5)
        if left:
            log(f"  gave up after {timeout:.0f} s: {left} of {len(ids)} not {what}")

    def latencies(self, ids: list[int]) -> tuple[dict[int, float], list[float], list[float]]:
        """The emulator's success time by generation, the stored latencies, and the submit waits."""
        from generations.models import Generation

        finished_remote = self.emulator.state()["finished_at"]
        success, stored, waits, other = {}, [], [], Counter()
        for row in Generation.objects.filter(pk__in=ids).values():
            if row["submitted_at"]:
                waits.append((row["submitted_at"] - row["created_at"]).total_seconds())
            if row["status"] == "success" and (remote := finished_remote.get(row["request_id"])):
                success[row["id"]] = remote
                stored.append(row["finished_at"].timestamp() - remote)
            else:
                other[row["status"]] += 1
        if other:
            log(f"  not measured (not a success): {dict(other)}")
        return success, stored, waits


def person(username: str):
    from django.contrib.auth import get_user_model

    from accounts.models import Team

    user = get_user_model().objects.create_user(username, password=PASSWORD)
    return user, Team.objects.for_user(user).get()


def log_in(browser, url: str, username: str):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    page.add_init_script(MEDIA_LISTENER)
    page.goto(f"{url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/")
    return page


def phase_quiet(bench: Bench, url: str, short: float, long: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    jobs = bench.args.jobs
    watcher, watcher_team = person("watcher")
    other, other_team = person("other")
    mark = bench.sampler.mark()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            bench.page = log_in(browser, url, "watcher")
            log(f"phase 1 (quiet): the watcher is logged in in Chromium; submitting {jobs} jobs of {short:g} s")
            bench.jobs_of(short)
            short_ids = bench.submit(watcher, watcher_team, jobs, "short")
            bench.wait_until(short_ids, SENT, 120)
            bench.page.goto(f"{url}/")  # the studio page with the new cards, as the person would open it
            bench.page.wait_for_function(STREAM_OPEN)
            opened = time.time()
            log(f"  the studio page shows {bench.page.locator('li.card').count()} cards; its live stream is open")
            log(f"  submitting {jobs} jobs of {long:g} s for another person")
            bench.jobs_of(long)
            long_ids = bench.submit(other, other_team, jobs, "long")
            bench.wait_until(long_ids, SENT, 120)
            bench.wait_until(short_ids + long_ids, FINAL, long + 300)
            bench.sleep(5)  # the last card's player, a moment after the last store
            media = bench.page.evaluate("window.__media || {}")
        finally:
            bench.page = None
            browser.close()
    short_success, short_stored, short_waits = bench.latencies(short_ids)
    _, long_stored, long_waits = bench.latencies(long_ids)
    watched = {pk: remote for pk, remote in short_success.items() if remote > opened}
    if len(watched) < len(short_success):
        log(f"  {len(short_success) - len(watched)} jobs succeeded before the page opened: not counted as playable")
    seen = {name: [at - watched[pk] for card, at in media.get(name, {}).items() if (pk := int(card[11:])) in watched]
            for name in ("canplay", "loadedmetadata")}  # fmt: skip
    cpu, rss = bench.sampler.since(mark)
    log(f"phase 1 done: {len(short_stored)} + {len(long_stored)} stored, {len(seen['canplay'])} playable in Chromium")
    return {"short": short_stored, "long": long_stored, "playable": seen["canplay"], "metadata": seen["loadedmetadata"],
            "waits": short_waits + long_waits, "cpu": cpu, "rss": rss}  # fmt: skip


def phase_loaded(bench: Bench, short: float) -> dict[str, Any]:
    from generations.models import Generation

    jobs, background = bench.args.jobs, bench.args.background
    crowd, crowd_team = person("crowd")
    measured, measured_team = person("measured")
    log(f"phase 2 (loaded): submitting {background} generations that stay in flight")
    bench.jobs_of(short, stuck_rate=1.0)
    started = time.monotonic()
    bench.wait_until(bench.submit(crowd, crowd_team, background, "background", spaced=False), SENT, 600)
    sent_in = time.monotonic() - started
    log(f"  {background} in flight after {sent_in:.1f} s ({background / sent_in:.1f} submissions/s)")
    bench.jobs_of(short)
    mark = bench.sampler.mark()
    log(f"  submitting {jobs} measured jobs of {short:g} s")
    ids = bench.submit(measured, measured_team, jobs, "measured")
    bench.wait_until(ids, SENT, 120)  # no submission in the window below
    in_flight = Generation.objects.filter(status__in=Generation.UNFINISHED).count()
    log(f"  counting API calls over 60 s with {in_flight} generations in flight")
    before, window_started = bench.emulator.state()["calls"], time.time()
    bench.sleep(60)
    after, window_ended = bench.emulator.state()["calls"], time.time()
    minutes = (window_ended - window_started) / 60
    calls = {name: (count - before.get(name, 0)) / minutes for name, count in after.items()}
    finished = Generation.objects.filter(
        finished_at__gte=datetime.fromtimestamp(window_started, UTC),
        finished_at__lt=datetime.fromtimestamp(window_ended, UTC),
    )
    finished_per_minute = finished.count() / minutes
    bench.wait_until(ids, FINAL, short + 300)
    _, stored, waits = bench.latencies(ids)
    cpu, rss = bench.sampler.since(mark)
    log(f"phase 2 done: {len(stored)} stored")
    return {"stored": stored, "waits": waits, "calls": calls, "in_flight": in_flight, "cpu": cpu, "rss": rss,
            "finished": finished_per_minute, "sent_in": sent_in}  # fmt: skip


def report(args: argparse.Namespace, short: float, long: float, quiet: dict[str, Any], loaded: dict[str, Any]) -> None:
    bg = args.background
    print(f"\n=== Fleet poller: remote success -> stored / playable ({args.jobs} jobs of each kind) ===")
    rows = [
        (f"stored, {short:g} s jobs, quiet", quiet["short"], 1.5),
        (f"stored, {long:g} s jobs, quiet", quiet["long"], 1.5),
        (f"stored, {short:g} s jobs, {bg} in flight", loaded["stored"], 2.0),
        (f"<video> canplay in Chromium, {short:g} s jobs, quiet", quiet["playable"], 3.0),
        (f"submit wait (created -> submitted_at), {bg} in flight", loaded["waits"], 1.0),
    ]
    for name, values, target in rows:
        meets = verdict(percentile(values, 95), target) if values else "no data"
        print(f"  {name:<54} {spread(values)}  (n={len(values)}; target p95 <= {target:g} s: {meets})")
    for name, values in (("(extra) <video> loadedmetadata, quiet", quiet["metadata"]),
                         ("(extra) submit wait, quiet", quiet["waits"])):  # fmt: skip
        print(f"  {name:<54} {spread(values)}  (n={len(values)})")

    calls, in_flight = loaded["calls"], loaded["in_flight"]
    total, allowed = sum(calls.values()), 120 + loaded["finished"]
    print(f"\n=== API calls per minute, {in_flight} generations in flight (a 60 s window) ===")
    print(f"  the fleet: {total:.1f}; target <= 120 + {loaded['finished']:.1f} finished = {allowed:.1f}: "
          f"{verdict(total, allowed)}")  # fmt: skip
    print(f"  per generation in flight: {total / max(in_flight, 1):.4f}")
    print("  by endpoint: " + ", ".join(f"{name} {rate:.1f}" for name, rate in sorted(calls.items()) if rate))
    print(f"  (the {bg} background submissions were all sent within {loaded['sent_in']:.1f} s)")

    print("\n=== The worker (main process + pool children, --concurrency=2) ===")
    for name, figures in ((f"quiet, {2 * args.jobs} jobs", quiet), (f"{bg} in flight", loaded)):
        print(f"  {name:<16} CPU {figures['cpu']:5.1f} % of one core (average), RSS {figures['rss']:.0f} MB (peak)")


def studio_env(directory: Path, redis_url: str, emulator: EmulatorProcess, **settings: str) -> dict[str, str]:
    """The studio's environment on the bench's Redis and emulator (over HTTPS) and a SQLite
    database in `directory`, plus `settings`; set in this process too, where Django is set up
    and the database migrated."""
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "kling_studio.settings", "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": f"sqlite:///{directory}/bench.sqlite3", "REDIS_URL": redis_url,
        "MEDIA_ROOT": str(directory / "media"), "GMI_API_BASE_URL": emulator.base_url, "GMI_API_KEY": emulator.api_key,
        "GMI_CA_BUNDLE": str(emulator.ca_path), "GMI_ALLOW_PRIVATE_API_HOST": "True", **settings,
    }  # fmt: skip
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return env


def start_studio(directory: Path, stack: ExitStack, seed: int) -> tuple[EmulatorProcess, int, str]:
    """Redis, the emulator, the database, worker, beat and uvicorn, all stopped when `stack`
    closes; returns the emulator, the worker's pid and the studio's URL."""
    redis = start_redis(redis_port := free_port(), directory / "redis")
    stack.callback(redis.wait, 10)
    stack.callback(redis.terminate)
    emulator = EmulatorProcess(api_key="bench-key", queue_seconds=QUEUE_SECONDS, quiet=True, seed=seed, tls=True)
    stack.enter_context(emulator)
    env = studio_env(directory, f"redis://127.0.0.1:{redis_port}/0", emulator)
    from kling_studio import celery_app

    # The worker and beat as in production (DEBUG off); the web server as `make run` runs it.
    processes = Processes(directory, {**env, "DEBUG": "False", "SECRET_KEY": secrets.token_urlsafe(32)})
    stack.callback(processes.print_problems)
    stack.callback(processes.stop_all)
    celery = ["celery", "-A", "kling_studio"]
    worker = processes.start("worker", *celery, "worker", "--concurrency=2", "--loglevel=WARNING")
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(timeout=1.0):
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not answer a ping within 60 s")
    processes.start("beat", *celery, "beat", "--schedule", str(directory / "beat-schedule"), "--loglevel=WARNING")
    port = free_port()
    web = processes.start("web", "uvicorn", "kling_studio.asgi:application", "--host", "127.0.0.1",
                          "--port", str(port), "--log-level", "warning", env=env)  # fmt: skip
    wait_for_port("127.0.0.1", port, web, "uvicorn")
    log(f"the worker (pid {worker.pid}) answers; beat runs; uvicorn on :{port}; emulator at {emulator.root_url}")
    return emulator, worker.pid, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 s and 40 s jobs, 200 in the background, 0.5 s spacing")
    parser.add_argument("--jobs", type=int, default=20, help="measured jobs of each kind (default 20)")
    parser.add_argument("--background", type=int, help="generations in flight in phase 2 (default 1000; quick 200)")
    parser.add_argument("--spacing", type=float, help="mean seconds between submissions (default 3; quick 0.5)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the jitter and the emulator")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, database)")
    args = parser.parse_args()
    short, long = (20.0, 40.0) if args.quick else (120.0, 600.0)
    args.background = args.background if args.background is not None else (200 if args.quick else 1000)
    args.spacing = args.spacing if args.spacing is not None else (0.5 if args.quick else 3.0)

    def body(directory: Path, stack: ExitStack) -> None:
        emulator, worker_pid, url = start_studio(directory, stack, args.seed)
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "1"  # ORM calls beside Playwright's loop, in this process only
        sampler = TreeSampler(worker_pid)
        sampler.start()
        stack.callback(sampler.halt.set)
        bench = Bench(args, emulator, sampler, random.Random(args.seed))
        quiet = phase_quiet(bench, url, short, long)
        loaded = phase_loaded(bench, short)
        report(args, short, long, quiet, loaded)

    return in_scratch_directory("bench-live-", args.keep, body)


def in_scratch_directory(prefix: str, keep: bool, body: Callable[[Path, ExitStack], None]) -> int:
    """A benchmark's frame: `body` runs in a temporary directory (kept with --keep), and what it
    puts on the stack is stopped at the end, also on Ctrl-C or SIGTERM; the load average is
    printed before and after. Returns the exit status."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop everything started, as on Ctrl-C
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()} at the start", flush=True)
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        with ExitStack() as stack:
            body(directory, stack)
    except KeyboardInterrupt:
        print("\ninterrupted: everything the benchmark started is stopped", flush=True)
        return 130
    finally:
        print(f"\nload average {os.getloadavg()} at the end", flush=True)
        if keep:
            print(f"kept {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
