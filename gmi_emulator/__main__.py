"""``python -m gmi_emulator``: run a local emulator of GMI Cloud's request-queue video API."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gmi_emulator.config import OUTCOME_STYLES, ConfigError, FaultConfig, Settings
from gmi_emulator.render import RenderPool
from gmi_emulator.server import API_PREFIX, Emulator, EmulatorHTTPServer

ENV_PREFIX = "GMI_EMULATOR_"


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gmi_emulator",
        description=(
            "Local emulator of GMI Cloud's request-queue API for Kling-Text2Video-V1.6-Standard. "
            "Renders real MP4s from prompts. Every flag can also be set with the environment "
            "variable shown (the flag wins)."
        ),
    )

    def add(flag: str, kind: Callable[[str], Any], default: Any, text: str, **kw: Any) -> None:
        env = ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()
        raw = os.environ.get(env)
        parser.add_argument(
            flag,
            type=kind,
            default=raw if raw not in (None, "") else default,
            help=f"{text} [env {env}; default: {default}]",
            **kw,
        )

    add("--host", str, "127.0.0.1", "interface to listen on")
    add("--port", int, 8765, "port to listen on; 0 picks a free port")
    add("--api-key", str, "emulator-key", "the API key clients must send as 'Authorization: Bearer <key>'")
    add("--queue-seconds", _non_negative, 1.0, "seconds a request stays queued")
    add("--processing-seconds", _non_negative, 6.0, "seconds a request stays processing (longer while its render runs)")
    add("--media-dir", Path, None, "where rendered videos go; default: a fresh temporary directory removed at exit")
    add("--fail-rate", _rate, 0.0, "share of requests (0..1) that end failed with a reason")
    add("--stuck-rate", _rate, 0.0, "share of requests (0..1) that stay processing forever")
    add("--cancel-rate", _rate, 0.0, "share of requests (0..1) that end cancelled")
    add("--error-rate", _rate, 0.0, "share of API requests (0..1) answered with a 500/502/503")
    add("--rate-limit", int, 0, "at most N API requests per --rate-window, then 429 with Retry-After; 0 = unlimited")
    add("--rate-window", _non_negative, 60.0, "rate limit window in seconds")
    add("--latency", _non_negative, 0.0, "seconds added to every API response, after the request is handled")
    add("--list-limit", int, 0, "the list endpoint returns at most this many requests, newest first; 0 = all")
    add("--seed", int, None, "seed for the random fates and injected errors")
    styles = "documented: video_url and 'processing'; live: media_urls and 'dispatched'"
    add("--outcome-style", str, "documented", styles, choices=OUTCOME_STYLES)
    add("--render-workers", int, 2, "render processes (1-2 is right for a 2-core machine)")
    add("--quiet", _flag, False, "do not log requests to stderr (true/false)", nargs="?", const=True)
    return parser


def settings_from_args(argv: Sequence[str] | None = None) -> Settings:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = FaultConfig().updated(
            {
                "queue_seconds": args.queue_seconds,
                "processing_seconds": args.processing_seconds,
                "fail_rate": args.fail_rate,
                "stuck_rate": args.stuck_rate,
                "cancel_rate": args.cancel_rate,
                "error_rate": args.error_rate,
                "rate_limit": args.rate_limit,
                "rate_window": args.rate_window,
                "latency": args.latency,
                "list_limit": args.list_limit,
                "outcome_style": args.outcome_style,
            }
        )
    except ConfigError as exc:
        parser.error(str(exc))
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    return Settings(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        media_dir=args.media_dir,
        seed=args.seed,
        render_workers=max(1, args.render_workers),
        quiet=bool(args.quiet),
        faults=faults,
    )


def run(settings: Settings) -> int:
    temporary = settings.media_dir is None
    media_dir = Path(tempfile.mkdtemp(prefix="gmi-emulator-")) if temporary else Path(settings.media_dir or ".")
    media_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    renderer = RenderPool(settings.render_workers)
    server: EmulatorHTTPServer | None = None
    try:
        emulator = Emulator(settings, media_dir, renderer)
        try:
            server = EmulatorHTTPServer(emulator)
        except OSError as exc:
            print(f"error: cannot listen on {settings.host}:{settings.port}: {exc}", file=sys.stderr, flush=True)
            return 1
        threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
        print(f"media directory: {media_dir}", file=sys.stderr, flush=True)
        print(f"GMI emulator listening on {emulator.public_root}{API_PREFIX}", flush=True)
        threading.Thread(target=renderer.warm_up, name="warm-up", daemon=True).start()
        while not stop.wait(0.5):
            pass
        print("GMI emulator stopping", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        stopped = renderer.shutdown()
        if temporary:
            shutil.rmtree(media_dir, ignore_errors=True)
        if not stopped:  # never hang at exit waiting for a render process
            print("render processes did not stop; exiting anyway", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(0)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(settings_from_args(argv))


if __name__ == "__main__":
    sys.exit(main())
