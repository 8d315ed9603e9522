"""Small measuring tools the benchmarks share: percentiles, and a process tree's CPU and memory."""

from __future__ import annotations

import math
import os
import threading
import time
from contextlib import suppress
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * percent / 100) - 1)] if ordered else float("nan")


def spread(values: list[float]) -> str:
    if not values:
        return "no data"
    return f"p50 {percentile(values, 50):6.2f} / p95 {percentile(values, 95):6.2f} / max {max(values):6.2f} s"


class TreeSampler(threading.Thread):
    """CPU ticks and RSS of a process and its descendants, from /proc, twice a second."""

    def __init__(self, root_pid: int) -> None:
        super().__init__(daemon=True)
        self.root_pid = root_pid
        self.ticks: dict[int, int] = {}  # utime + stime by pid, last seen
        self.rss: list[tuple[float, int]] = []  # (monotonic time, summed kB)
        self.lock = threading.Lock()
        self.halt = threading.Event()

    def tree(self, pid: int) -> list[int]:
        pids = [pid]
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with suppress(OSError):
                pids += [p for child in children.read_text().split() for p in self.tree(int(child))]
        return pids

    def sample(self) -> None:
        total_kb, now = 0, time.monotonic()
        for pid in self.tree(self.root_pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total_kb += int(next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")), 0))
            with self.lock:
                self.ticks[pid] = int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat
        with self.lock:
            self.rss.append((now, total_kb))

    def run(self) -> None:
        while not self.halt.wait(0.5):
            self.sample()

    def mark(self) -> tuple[float, dict[int, int]]:
        self.sample()
        with self.lock:
            return time.monotonic(), dict(self.ticks)

    def since(self, mark: tuple[float, dict[int, int]]) -> tuple[float, float]:
        """(CPU percent of one core, peak RSS in MB) since `mark`; a process born since counts from 0."""
        self.sample()
        started, baseline = mark
        with self.lock:
            used = sum(ticks - baseline.get(pid, 0) for pid, ticks in self.ticks.items())
            peak = max((kb for at, kb in self.rss if at >= started), default=0)
        return 100 * used / CLOCK_TICK / max(time.monotonic() - started, 1e-9), peak / 1024
