"""HTTP(S) server: puts the API's answers on the wire, serves media links and the control endpoint."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import ssl
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from gmi_emulator import API_PREFIX
from gmi_emulator.api import CONTROL_PREFIX, Emulator, Response, error, json_response
from gmi_emulator.config import Settings
from gmi_emulator.media import CONTENT_TYPES, MEDIA_NAME_RE, Unsatisfiable, parse_range

__all__ = ["API_PREFIX", "Emulator", "EmulatorHTTPServer", "Handler", "tls_context"]

MAX_BODY = 1024 * 1024
TLS_HANDSHAKE_TIMEOUT = 10.0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GMIEmulator/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: avoid 40 ms delayed-ACK stalls
    server: EmulatorHTTPServer
    _api_request = False  # the request being answered is an API one: its error bodies follow error_style
    _handshake_failed = False

    def setup(self) -> None:
        # Under TLS the handshake happens here, on this connection's own thread, so that a slow
        # or failing client never holds up the accepting thread.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(TLS_HANDSHAKE_TIMEOUT)
            try:
                self.request.do_handshake()
            except OSError as exc:  # ssl.SSLError, a timeout, a reset: the client goes away
                self._handshake_failed = True
                if not self.server.emulator.settings.quiet:
                    sys.stderr.write(f"{self.client_address[0]} - TLS handshake failed: {exc}\n")
            with contextlib.suppress(OSError):
                self.request.settimeout(None)
        super().setup()

    def handle(self) -> None:
        if self._handshake_failed:
            self.close_connection = True
            return
        super().handle()

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
            self._api_request = url.path == API_PREFIX or url.path.startswith(API_PREFIX + "/")
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
            elif self._api_request:
                response = emulator.api(method, url.path, url.query, self.headers, body)
                latency = emulator.config.latency
                if latency > 0:  # after handling: a submit is recorded while the client still waits
                    time.sleep(latency)
                self._send(response, head=method == "HEAD")
            else:
                self._send(error(404, f"not found: {url.path}"), head=method == "HEAD")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):  # the client went away
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
        if self._api_request:
            response = self.server.emulator.styled(response)
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


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when a certificate is configured; raises OSError/ssl.SSLError if unusable."""
    if settings.tls_cert is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context


class EmulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, emulator: Emulator, context: ssl.SSLContext | None = None) -> None:
        """Listen on the configured address; with ``context``, speak TLS (the handshake runs per connection)."""
        host, port = emulator.settings.host, emulator.settings.port
        if ":" in host:
            self.address_family = socket.AF_INET6
        self.emulator = emulator
        super().__init__((host, port), Handler)
        if context is not None:
            self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)
        actual_port = self.server_address[1]
        url_host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        emulator.scheme = "https" if context is not None else "http"
        emulator.public_root = f"{emulator.scheme}://{url_host}:{actual_port}"
