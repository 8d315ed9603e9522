"""A tiny stand-in for the outside world's odder answers: whatever status, headers and body a
test sets, over HTTP or HTTPS, all at once, dripping, or held until the test lets it go."""

from __future__ import annotations

import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class StubServer:
    def __init__(self, tls: tuple[Path, Path] | None = None):
        self.status, self.body, self.headers, self.seen = 200, b"", {}, []
        self.drip = 0.0  # seconds between bytes of the body, for a server that dribbles
        self.hold = False  # answer only once `release` is set
        self.asked, self.release = threading.Event(), threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                stub.seen.append(dict(self.headers))
                stub.asked.set()
                if stub.hold:
                    stub.release.wait(30)
                self.send_response(stub.status)
                for name, value in stub.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(stub.body)))
                self.end_headers()
                if not stub.drip:
                    self.wfile.write(stub.body)
                    return
                for byte in stub.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(stub.drip)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.root = f"{scheme}://127.0.0.1:{self.server.server_port}"
        self.url = f"{self.root}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
