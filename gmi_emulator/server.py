"""HTTP server: the documented API, media links and the test control endpoint."""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import sys
import threading
import time
import traceback
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gmi_emulator import API_PREFIX
from gmi_emulator.config import ConfigError, FaultConfig, Settings
from gmi_emulator.jobs import Job, JobStore
from gmi_emulator.media import CONTENT_TYPES, MEDIA_NAME_RE, Unsatisfiable, parse_range
from gmi_emulator.render import RenderPool
from gmi_emulator.validation import ValidationError, model_ids, model_info, validate_submission

CONTROL_PREFIX = "/_emulator/"
MAX_BODY = 1024 * 1024
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


def error(status: int, message: str, **extra: Any) -> Response:
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
        self.store = JobStore(settings.seed, self._start_render if renderer else None)
        self.limiter = RateLimiter()
        self.public_root = f"http://{settings.host}:{settings.port}"

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
        return self.renderer.submit(payload, self.media_dir / f"{request_id}.mp4", self.media_dir / f"{request_id}.jpg")

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
        data["qworker_id"] = "" if status == "queued" else job.worker_id
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
            return error(400, f"invalid JSON body: {exc}", field="body")
        if data is None:
            return error(400, "request body must be a JSON object", field="body")
        try:
            model, payload = validate_submission(data)
        except ValidationError as exc:
            return json_response(400, exc.as_json())
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
    if len(parts) == 2 and parts[0] in ("requests", "models") and parts[1]:
        endpoint = "get_request" if parts[0] == "requests" else "get_model"
        return (endpoint if method == "GET" else None), unquote(parts[1]), ("GET",)
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GMIEmulator/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed-ACK stalls
    server: EmulatorHTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        emulator = self.server.emulator
        try:
            url = urlsplit(self.path)
            body = self._read_body()
            if body is None:
                return
            if url.path.startswith("/media/"):
                self._media(method, url.path[len("/media/") :])
            elif url.path.startswith(CONTROL_PREFIX):
                if not _is_loopback(self.client_address[0]):
                    self._send(error(403, "the control endpoint only answers loopback clients"))
                else:
                    self._send(emulator.control(method, url.path, body))
            elif url.path == API_PREFIX or url.path.startswith(API_PREFIX + "/"):
                response = emulator.api(method, url.path, url.query, self.headers, body)
                latency = emulator.config.latency
                if latency > 0:  # after handling: a submit is recorded while the client still waits
                    time.sleep(latency)
                self._send(response, head=method == "HEAD")
            else:
                self._send(error(404, f"not found: {url.path}"), head=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            traceback.print_exc(file=sys.stderr)
            try:
                self._send(error(500, "internal emulator error"))
            except OSError:
                self.close_connection = True

    def _read_body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            size = int(length)
        except ValueError:
            self._send(error(400, "invalid Content-Length"))
            self.close_connection = True
            return None
        if size < 0 or size > MAX_BODY:
            self._send(error(413, "request body too large"))
            self.close_connection = True
            return None
        return self.rfile.read(size)

    def _send(self, response: Response, head: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def _media(self, method: str, name: str) -> None:
        match = MEDIA_NAME_RE.match(name)
        if method not in ("GET", "HEAD"):
            self._send(json_response(405, {"error": f"method {method} not allowed"}, {"Allow": "GET, HEAD"}))
            return
        path = self.server.emulator.media_dir / name if match else None
        try:
            handle = open(path, "rb") if path else None  # noqa: SIM115 - closed below
        except OSError:
            handle = None
        if handle is None:
            self._send(error(404, f"no such media file: {name}"), head=method == "HEAD")
            return
        with handle:
            size = handle.seek(0, 2)
            content_type = CONTENT_TYPES[match.group(2)] if match else "application/octet-stream"
            try:
                byte_range = parse_range(self.headers.get("Range"), size)
            except Unsatisfiable:
                body = json.dumps({"error": "requested range not satisfiable"}).encode()
                self._send(Response(416, body, "application/json", {"Content-Range": f"bytes */{size}"}))
                return
            first, last = byte_range if byte_range else (0, size - 1)
            self.send_response(206 if byte_range else 200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(last - first + 1))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Cache-Control", "public, max-age=3600")
            if byte_range:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.end_headers()
            if method == "HEAD":
                return
            handle.seek(first)
            remaining = last - first + 1
            while remaining > 0:
                chunk = handle.read(min(256 * 1024, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        # Only the request line, status and size: never headers, so never the API key.
        if not self.server.emulator.settings.quiet:
            sys.stderr.write(f"{self.address_string()} - [{self.log_date_time_string()}] {format % args}\n")


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, emulator: Emulator) -> None:
        host, port = emulator.settings.host, emulator.settings.port
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        super().__init__((host, port), Handler)
        actual_port = self.server_address[1]
        url_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        emulator.public_root = f"http://{url_host}:{actual_port}"
