"""The API itself: the documented endpoints (and cancelling), faults, error bodies and the control endpoint.

Answers are ``Response`` values; ``gmi_emulator.server`` puts them on the wire.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote

from gmi_emulator import API_PREFIX
from gmi_emulator.config import ERROR_KEYS, ConfigError, FaultConfig, Settings
from gmi_emulator.jobs import FINAL_STATUSES, Job, JobStore
from gmi_emulator.render import RenderPool
from gmi_emulator.validation import ValidationError, model_ids, model_info, validate_submission

CONTROL_PREFIX = "/_emulator/"
BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), "application/json", headers or {})


def error(status: int, message: Any, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


class RateLimiter:
    """Sliding window: at most ``limit`` accepted requests in any ``window`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: deque[float] = deque()

    def retry_after(self, limit: int, window: float) -> int | None:
        """Record a request and return None, or return whole seconds to wait."""
        now = time.monotonic()
        with self._lock:
            while self._hits and self._hits[0] <= now - window:
                self._hits.popleft()
            if len(self._hits) >= limit:
                return max(1, int(self._hits[0] + window - now + 0.999))
            self._hits.append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class Emulator:
    """All state of one emulator: config, jobs, renders, counters."""

    def __init__(self, settings: Settings, media_dir: Path, renderer: RenderPool | None) -> None:
        self.settings = settings
        self.media_dir = media_dir
        self.renderer = renderer
        self._startup = settings.faults.copy()
        self._config = settings.faults.copy()
        self._config_lock = threading.Lock()
        self.store = JobStore(settings.seed, self._start_render if renderer else None, self._stop_render)
        self.limiter = RateLimiter()
        self.scheme = "https" if settings.tls_cert else "http"
        self.public_root = f"{self.scheme}://{settings.host}:{settings.port}"

    @property
    def config(self) -> FaultConfig:
        with self._config_lock:
            return self._config

    def configure(self, changes: Any) -> FaultConfig:
        with self._config_lock:
            self._config = self._config.updated(changes)
            return self._config

    def reset(self) -> None:
        with self._config_lock:
            self._config = self._startup.copy()
        self.store.reset()
        self.limiter.reset()

    def _start_render(self, request_id: str, payload: dict[str, Any]) -> Future[dict[str, Any]]:
        assert self.renderer is not None
        video, thumb, stop = (self.media_dir / f"{request_id}.{ext}" for ext in ("mp4", "jpg", "stop"))
        return self.renderer.submit(payload, video, thumb, stop)

    def _stop_render(self, request_id: str, render: Future[dict[str, Any]], discard: bool) -> None:
        """Stop a render (its request was cancelled, or forgotten by a reset); ``discard``: delete its files."""
        if render.cancel():  # it had not started
            return
        stop = self.media_dir / f"{request_id}.stop"
        with contextlib.suppress(OSError):
            stop.touch()  # the render looks for this file every few frames
        paths = [stop, *(self.media_dir / f"{request_id}.{ext}" for ext in ("mp4", "jpg") if discard)]

        def tidy(_: Future[dict[str, Any]]) -> None:
            for path in paths:
                with contextlib.suppress(OSError):
                    path.unlink(missing_ok=True)

        render.add_done_callback(tidy)  # at once if it has already finished

    def styled(self, response: Response) -> Response:
        """An API error body with the configured key (``error_style``) in place of "error"."""
        if response.status < 400 or response.content_type != "application/json":
            return response
        style = self.config.error_style
        key = self.store.fault_choice(ERROR_KEYS) if style == "mixed" else style
        if key == "error":
            return response
        try:
            data = json.loads(response.body)
        except ValueError:
            return response
        if not isinstance(data, dict) or "error" not in data:
            return response
        data = {key if name == "error" else name: value for name, value in data.items()}
        return Response(response.status, json.dumps(data).encode(), response.content_type, response.headers)

    def job_json(self, job: Job, now: float, style: str) -> dict[str, Any]:
        status, updated, reason = job.snapshot(now)
        data: dict[str, Any] = {
            "request_id": job.request_id,
            "org_id": "emulator-org",
            "model": job.model,
            "status": "dispatched" if style == "live" and status == "processing" else status,
            "is_public": False,
            "payload": dict(job.payload),
        }
        if status == "success":
            video = f"{self.public_root}/media/{job.request_id}.mp4"
            thumb = f"{self.public_root}/media/{job.request_id}.jpg"
            if style == "live":
                data["outcome"] = {"media_urls": [{"url": video}], "thumbnail_image_url": thumb}
            else:
                data["outcome"] = {"video_url": video, "thumbnail_image_url": thumb}
        data["qworker_id"] = job.worker_id if job.started(now) else ""
        data["created_at"] = int(job.created)
        data["updated_at"] = int(updated)
        data["queued_at"] = int(job.created)
        if reason is not None:
            data["error"] = reason
        return data

    # -- API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, query: str, headers: Any, body: bytes) -> Response:
        """Faults in order (rate limit, injected errors), then auth, then the endpoint."""
        config = self.config
        rel = path[len(API_PREFIX) :].rstrip("/")
        endpoint, param, allowed = route(method, rel)
        if config.rate_limit > 0:
            wait = self.limiter.retry_after(config.rate_limit, config.rate_window)
            if wait is not None:
                limit = f"at most {config.rate_limit} requests per {config.rate_window:g} s"
                return json_response(429, {"error": f"Rate limit exceeded: {limit}"}, {"Retry-After": str(wait)})
        if endpoint is not None:
            self.store.count_call(endpoint)
        if endpoint is not None and self.store.fault_random() < config.error_rate.get(endpoint, 0.0):
            return self._injected_error()
        auth = check_auth(headers.get("Authorization"), self.settings.api_key)
        if auth is not None:
            return auth
        if endpoint is None:
            if allowed:
                return json_response(405, {"error": f"method {method} not allowed"}, {"Allow": ", ".join(allowed)})
            return error(404, f"no such endpoint: {path}")
        if endpoint == "submit":
            return self._submit(body, config)
        if endpoint == "cancel_request":
            return self._cancel(param, config)
        if endpoint == "get_request":
            job = self.store.get(param)
            if job is None:
                return error(404, f"request not found: {param}")
            self.store.count_poll(param)
            return json_response(200, self.job_json(job, time.time(), config.outcome_style))
        if endpoint == "list_requests":
            model = parse_qs(query).get("model_id", [None])[0]
            now = time.time()
            jobs = self.store.newest_first(model)
            shown = jobs[: config.list_limit] if config.list_limit else jobs
            items = [self.job_json(j, now, config.outcome_style) for j in shown]
            return json_response(200, {"requests": items, "total": len(jobs)})
        if endpoint == "list_models":
            return json_response(200, {"model_ids": model_ids()})
        info = model_info(param)
        return json_response(200, info) if info else error(404, f"model not found: {param}")

    def _submit(self, body: bytes, config: FaultConfig) -> Response:
        try:
            data = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return self._bad_request(ValidationError("body", f"invalid JSON body: {exc}"), config)
        if data is None:
            return self._bad_request(ValidationError("body", "request body must be a JSON object"), config)
        try:
            model, payload = validate_submission(data)
        except ValidationError as exc:
            return self._bad_request(exc, config)
        job = self.store.submit(model, payload, config)
        stamp = int(job.created)
        return json_response(
            200,
            {
                "request_id": job.request_id,
                "model": job.model,
                "status": "queued",
                "created_at": stamp,
                "updated_at": stamp,
                "queued_at": stamp,
            },
        )

    def _bad_request(self, exc: ValidationError, config: FaultConfig) -> Response:
        """A rejected submit: 400 (404 for an unknown model), or the live service's 500 that wraps a 400."""
        if exc.status != 400 or not config.wrap_bad_request_in_500:
            return json_response(exc.status, exc.as_json())
        shape = config.wrapped_error_shape
        if shape == "mixed":
            shape = self.store.fault_choice(("flat", "nested"))
        if shape == "flat":
            return error(500, f"backend returned 400: {exc.message}")
        return error(500, {"code": 400, "message": exc.message})

    def _cancel(self, request_id: str, config: FaultConfig) -> Response:
        now = time.time()
        job, before = self.store.cancel(request_id, now)
        if job is None:
            return error(404, f"request not found: {request_id}")
        if before in FINAL_STATUSES:
            return error(409, f"request {request_id} is already {before} and cannot be cancelled")
        return json_response(200, self.job_json(job, now, config.outcome_style))

    def _injected_error(self) -> Response:
        status = self.store.fault_choice((500, 502, 503))
        if status == 502 and self.store.fault_random() < 0.5:
            return Response(502, BAD_GATEWAY_HTML.encode(), "text/html")
        messages = {500: "Internal server error", 502: "Bad gateway", 503: "Service temporarily unavailable"}
        return error(status, messages[status])

    # -- control ---------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes) -> Response:
        name = path[len(CONTROL_PREFIX) :].rstrip("/")
        if name == "state" and method == "GET":
            return json_response(200, {"config": self.config.as_dict(), **self.store.state()})
        if name == "config" and method == "GET":
            return json_response(200, self.config.as_dict())
        if name == "config" and method == "POST":
            try:
                changes = json.loads(body or b"{}")
                return json_response(200, self.configure(changes).as_dict())
            except (ValueError, ConfigError) as exc:
                return error(400, str(exc))
        if name == "reset" and method == "POST":
            self.reset()
            return json_response(200, {"reset": True, "config": self.config.as_dict()})
        return error(404, f"no such control endpoint: {method} {path}")


def route(method: str, rel: str) -> tuple[str | None, str, tuple[str, ...]]:
    """``(endpoint, path parameter, allowed methods)`` for a path below the API prefix."""
    parts = rel.split("/")[1:] if rel else []
    if parts == ["requests"]:
        return {"POST": "submit", "GET": "list_requests"}.get(method), "", ("GET", "POST")
    if len(parts) == 2 and parts[0] == "requests" and parts[1]:
        endpoint = {"GET": "get_request", "DELETE": "cancel_request"}.get(method)
        return endpoint, unquote(parts[1]), ("GET", "DELETE")
    if len(parts) == 2 and parts[0] == "models" and parts[1]:
        return ("get_model" if method == "GET" else None), unquote(parts[1]), ("GET",)
    if parts == ["models"]:
        return ("list_models" if method == "GET" else None), "", ("GET",)
    return None, "", ()


def check_auth(header: str | None, api_key: str) -> Response | None:
    challenge = {"WWW-Authenticate": "Bearer"}
    if not header:
        return json_response(401, {"error": "missing API key: send 'Authorization: Bearer <key>'"}, challenge)
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), api_key.encode()):
        return json_response(401, {"error": "invalid API key"}, challenge)
    return None
