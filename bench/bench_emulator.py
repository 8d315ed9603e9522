"""Benchmark the GMI emulator: render times and API responsiveness while rendering.

    python bench/bench_emulator.py

Starts its own emulator (loopback only, free port), then measures
  1. submit -> success time of one 5 s and one 10 s 16:9 clip (processing time 0,
     so the figure is the render itself plus polling granularity of 20 ms);
  2. the status endpoint's request rate and latency (p50/p95/max) while a 10 s clip
     renders, with one keep-alive client and with four concurrent ones, and for
     comparison with no render running. Every loop is bounded in time and count.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gmi_emulator.testing import EmulatorClient, EmulatorProcess

POLL = 0.02
MAX_SECONDS = 5.0
MAX_REQUESTS = 20_000


def render_time(client: EmulatorClient, **payload: str) -> float:
    started = time.perf_counter()
    request_id = client.submit(**payload)
    while client.status(request_id)["status"] not in ("success", "failed", "cancelled"):
        time.sleep(POLL)
    return time.perf_counter() - started


def hammer(emulator: EmulatorProcess, request_id: str, clients: int, while_rendering: bool) -> dict[str, float]:
    """GET /requests/{id} in a tight loop from ``clients`` threads; bounded in time and count."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()

    def run() -> None:
        client = EmulatorClient(emulator)
        mine: list[float] = []
        deadline = time.perf_counter() + MAX_SECONDS
        while not stop.is_set() and time.perf_counter() < deadline and len(mine) < MAX_REQUESTS // clients:
            started = time.perf_counter()
            status = client.status(request_id)["status"]
            mine.append(time.perf_counter() - started)
            if while_rendering and status != "processing":
                stop.set()  # the render finished: stop measuring
        client.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "max": latencies[-1] * 1000,
    }


def main() -> int:
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}", flush=True)
    with EmulatorProcess(api_key="bench-key", queue_seconds=0, processing_seconds=0) as emulator:
        client = EmulatorClient(emulator)
        warm = render_time(client, prompt="warm up the render pool", aspect_ratio="1:1")
        renders = [
            ("1:1 5 s (first render, cold pool)", warm),
            ("16:9 5 s", render_time(client, prompt="A majestic eagle soaring over mountains at sunset")),
            ("16:9 10 s", render_time(client, prompt="Neon jellyfish spinning in a deep blue ocean", duration="10")),
        ]

        runs = []
        idle_id = client.submit(prompt="already done", aspect_ratio="1:1")
        client.wait_until(idle_id)
        for clients in (1, 4):
            emulator.configure(latency=0)
            result = hammer(emulator, idle_id, clients, while_rendering=False)
            runs.append((f"idle, {clients} client(s)", result))
            request_id = client.submit(prompt=f"fast red cars racing through a rainy city {clients}", duration="10")
            result = hammer(emulator, request_id, clients, while_rendering=True)
            client.wait_until(request_id)
            runs.append((f"rendering 10 s clip, {clients} client(s)", result))
        client.close()

    print("\nRender time (submit -> success, processing_seconds=0)")
    print(f"  {'clip':<36} {'seconds':>8}")
    for name, seconds in renders:
        print(f"  {name:<36} {seconds:>8.2f}")
    print("\nGET /api/v1/apikey/requests/{id} (keep-alive, loopback, bounded to 5 s)")
    print(f"  {'situation':<36} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, r in runs:
        print(
            f"  {name:<36} {r['requests']:>8.0f} {r['rate']:>8.0f} {r['p50']:>8.2f} {r['p95']:>8.2f} {r['max']:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
