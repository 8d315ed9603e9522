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

from gmi_emulator.api import Emulator
from gmi_emulator.config import (
    ERROR_STYLES,
    OUTCOME_STYLES,
    WRAPPED_ERROR_SHAPES,
    ConfigError,
    FaultConfig,
    Settings,
)
from gmi_emulator.render import RenderPool
from gmi_emulator.server import API_PREFIX, EmulatorHTTPServer, tls_context

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


def _boolean(text: str | bool) -> bool:
    if isinstance(text, bool):
        return text
    word = text.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


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
    add("--error-style", str, "error", _ERROR_STYLE_HELP, choices=ERROR_STYLES)
    add("--wrap-bad-request-in-500", _boolean, False, _WRAP_HELP, nargs="?", const=True)
    add("--wrapped-error-shape", str, "mixed", _SHAPE_HELP, choices=WRAPPED_ERROR_SHAPES)
    add("--tls-cert", Path, None, "serve HTTPS with this PEM certificate (chain); needs --tls-key; media links: https")
    add("--tls-key", Path, None, "the PEM private key of --tls-cert")
    add("--render-workers", int, 2, "render processes (1-2 is right for a 2-core machine)")
    add("--quiet", _flag, False, "do not log requests to stderr (true/false)", nargs="?", const=True)
    return parser


_ERROR_STYLE_HELP = (
    "the key of every API error body: error {'error': ...}, message {'message': ...}, "
    "detail {'detail': ...}, or mixed (one of them at random per response)"
)
_WRAP_HELP = (
    "answer an invalid submit (a 400) with the live service's HTTP 500 carrying the backend's 400 "
    "(true/false; an unknown model stays 404)"
)
_SHAPE_HELP = (
    "the body of that 500: flat {'error': 'backend returned 400: ...'}, "
    "nested {'error': {'code': 400, 'message': ...}}, or mixed (either at random per response)"
)


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
                "error_style": args.error_style,
                "wrap_bad_request_in_500": _boolean(args.wrap_bad_request_in_500),
                "wrapped_error_shape": args.wrapped_error_shape,
            }
        )
    except (ConfigError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    tls_cert = Path(args.tls_cert) if args.tls_cert else None
    tls_key = Path(args.tls_key) if args.tls_key else None
    if (tls_cert is None) != (tls_key is None):
        parser.error("--tls-cert and --tls-key must be given together")
    for flag, path in (("--tls-cert", tls_cert), ("--tls-key", tls_key)):
        if path is not None and not path.is_file():
            parser.error(f"{flag} {path}: no such file")
    return Settings(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        media_dir=args.media_dir,
        seed=args.seed,
        render_workers=max(1, args.render_workers),
        quiet=bool(args.quiet),
        tls_cert=tls_cert,
        tls_key=tls_key,
        faults=faults,
    )


def run(settings: Settings) -> int:
    temporary = settings.media_dir is None
    media_dir = Path(tempfile.mkdtemp(prefix="gmi-emulator-")) if temporary else Path(settings.media_dir or ".")
    media_dir.mkdir(parents=True, exist_ok=True)
    try:
        context = tls_context(settings)
    except OSError as exc:  # includes ssl.SSLError: a key that does not match, a file that is not PEM
        files = f"--tls-cert {settings.tls_cert} / --tls-key {settings.tls_key}"
        print(f"error: cannot use {files}: {exc}", file=sys.stderr, flush=True)
        if temporary:
            shutil.rmtree(media_dir, ignore_errors=True)
        return 1
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    renderer = RenderPool(settings.render_workers)
    server: EmulatorHTTPServer | None = None
    try:
        emulator = Emulator(settings, media_dir, renderer)
        try:
            server = EmulatorHTTPServer(emulator, context)
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
