"""Run an emulator in a subprocess, for tests, fixtures and benchmarks.

Example::

    with EmulatorProcess(api_key="test-key", queue_seconds=0.2, processing_seconds=3) as emu:
        requests.post(f"{emu.base_url}/requests", json=..., headers=emu.auth_headers)
        emu.configure(fail_rate=1.0)
        emu.state()["submissions"]

Over HTTPS, with a throwaway CA that the process makes and clients must trust::

    with EmulatorProcess(tls=True) as emu:
        requests.get(f"{emu.base_url}/models", headers=emu.auth_headers, verify=emu.verify)
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from gmi_emulator import API_PREFIX, MODEL_ID

LISTENING_RE = re.compile(r"^GMI emulator listening on (https?://\S+?)" + re.escape(API_PREFIX) + r"\s*$")
PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


FINAL_STATUSES = ("success", "failed", "cancelled")
DOCUMENTED_EXAMPLE_BODY: dict[str, Any] = {  # the body of the API document's curl example
    "model": "Kling-Text2Video-V1.6-Standard",
    "payload": {
        "prompt": "A majestic eagle soaring through a mountain landscape at sunset",
        "negative_prompt": "blurry, low quality, distorted",
        "duration": "5",
        "aspect_ratio": "16:9",
        "cfg_scale": 0.7,
    },
}


class EmulatorError(RuntimeError):
    """The emulator process could not be started or did not answer."""


def make_test_certificate(directory: str | os.PathLike[str], days: int = 30) -> tuple[Path, Path, Path]:
    """Make a throwaway CA and a server certificate it signed (with ``cryptography``).

    The server certificate is valid for ``127.0.0.1``, ``::1`` and ``localhost`` (subjectAltName
    IP and DNS entries). Returns ``(cert_path, key_path, ca_path)``: give the first two to the
    emulator (``--tls-cert``, ``--tls-key``) and the last to clients (``requests``: ``verify=ca_path``).
    Files already in ``directory`` with the same names are replaced.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "GMI emulator throwaway test CA")])

    def certificate(subject, key, issuer_key, extensions):
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
        )
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca = certificate(ca_name, ca_key, ca_key, [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (x509.KeyUsage(False, False, False, False, False, True, True, False, False), True),  # cert and CRL signing
    ])  # fmt: skip
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    server = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), server_key, ca_key, [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(True, False, True, False, False, False, False, False, False), True),  # signature, key exchange
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.SubjectAlternativeName([*names, x509.DNSName("localhost")]), False),
    ])  # fmt: skip
    pem, no_password = serialization.Encoding.PEM, serialization.NoEncryption()
    cert_path, key_path, ca_path = folder / "server.pem", folder / "server-key.pem", folder / "ca.pem"
    cert_path.write_bytes(server.public_bytes(pem))
    key_path.write_bytes(server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, no_password))
    key_path.chmod(0o600)
    ca_path.write_bytes(ca.public_bytes(pem))
    return cert_path, key_path, ca_path


def cli_args(options: Mapping[str, Any]) -> list[str]:
    """``queue_seconds=0.2`` -> ``--queue-seconds 0.2``; True -> bare flag; None/False -> left out."""
    args: list[str] = []
    for name, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return args


class EmulatorProcess:
    """``python -m gmi_emulator --port 0 ...`` as a subprocess.

    ``cli_options`` are command-line options by their Python names, e.g.
    ``queue_seconds=0.2, fail_rate=0.5, media_dir=tmp_path, outcome_style="live"``.
    ``env`` adds environment variables for the child (e.g. ``GMI_EMULATOR_LATENCY``).
    ``tls=True`` serves HTTPS with a certificate made at start (see ``make_test_certificate``) in a
    temporary directory removed at stop; ``ca_path`` is then the CA to trust and ``verify`` the
    value to pass as ``requests``' ``verify=`` (on every call: requests ignores ``Session.verify``
    when ``REQUESTS_CA_BUNDLE`` is set).
    """

    def __init__(
        self,
        api_key: str | None = "test-key",
        *,
        startup_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
        tls: bool = False,
        **cli_options: Any,
    ) -> None:
        # None: pass no --api-key, so GMI_EMULATOR_API_KEY (or the built-in default) applies.
        self.api_key = api_key if api_key is not None else (env or {}).get("GMI_EMULATOR_API_KEY", "emulator-key")
        self._pass_key = api_key is not None
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.cli_options = {"port": 0, "host": "127.0.0.1", **cli_options}
        self.tls = tls
        self.ca_path: Path | None = None
        self._certificate_dir: str | None = None
        self.process: subprocess.Popen[str] | None = None
        self.root_url = ""
        self.base_url = ""
        self._stderr: collections.deque[str] = collections.deque(maxlen=400)
        self.stdout_lines: list[str] = []
        self._session = requests.Session()

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        key = ["--api-key", self.api_key] if self._pass_key else []
        return [sys.executable, "-m", "gmi_emulator", *key, *cli_args(self.cli_options)]

    def start(self) -> EmulatorProcess:
        if self.process is not None:
            raise EmulatorError("emulator already started")
        if self.tls and self._certificate_dir is None:
            self._certificate_dir = tempfile.mkdtemp(prefix="gmi-emulator-tls-")
            cert, key, self.ca_path = make_test_certificate(self._certificate_dir)
            self.cli_options.update(tls_cert=cert, tls_key=key)
        env = {**os.environ, **self.extra_env}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_PARENT, env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        self.process = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        found = threading.Event()
        threading.Thread(target=self._drain_stdout, args=(found,), daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        if not found.wait(self.startup_timeout) or not self.root_url:
            code = self.process.poll()
            self.stop()
            status = f"exited with {code}" if code is not None else f"did not start within {self.startup_timeout:g} s"
            raise EmulatorError(f"GMI emulator {status}; stderr:\n{self.stderr_tail}")
        return self

    def _drain_stdout(self, found: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout_lines.append(line)
            match = LISTENING_RE.match(line.strip())
            if match and not self.root_url:
                self.root_url = match.group(1)
                self.base_url = self.root_url + API_PREFIX
                found.set()
        found.set()  # stdout closed: the process ended

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    @property
    def stderr_tail(self) -> str:
        """The last few hundred lines the emulator wrote to stderr."""
        return "".join(self._stderr)

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate (then kill) the process; returns its exit code."""
        process, self.process = self.process, None
        self._session.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._certificate_dir is not None:
            shutil.rmtree(self._certificate_dir, ignore_errors=True)
            self._certificate_dir = None
            self.ca_path = None
            self.cli_options.pop("tls_cert", None)
            self.cli_options.pop("tls_key", None)
        return None if process is None else process.returncode

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- helpers ---------------------------------------------------------------------------

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def certificate(self) -> tuple[Path, Path, Path]:
        """``(cert_path, key_path, ca_path)`` under ``tls=True``, for servers a test wants its clients to trust too."""
        if self.ca_path is None:
            raise EmulatorError("the emulator serves plain HTTP: start it with tls=True")
        return Path(self.cli_options["tls_cert"]), Path(self.cli_options["tls_key"]), self.ca_path

    @property
    def verify(self) -> str | bool:
        """What to pass as ``requests``' ``verify=``: the CA's path under ``tls=True``, else True."""
        return str(self.ca_path) if self.ca_path is not None else True

    def _control(self, method: str, name: str, payload: Any = None) -> Any:
        if not self.root_url:
            raise EmulatorError("emulator not started")
        url = f"{self.root_url}/_emulator/{name}"
        response = self._session.request(method, url, json=payload, timeout=10, verify=self.verify)
        if response.status_code != 200:
            raise EmulatorError(f"{method} /_emulator/{name} -> {response.status_code}: {response.text}")
        return response.json()

    def state(self) -> dict[str, Any]:
        """Config, submission/poll counters and every request's status."""
        return self._control("GET", "state")

    def configure(self, **changes: Any) -> dict[str, Any]:
        """Change timing/fault config at run time (see ``/_emulator/config``); returns the new config."""
        return self._control("POST", "config", changes)

    def reset(self) -> None:
        """Forget all jobs and counters and restore the start-up config."""
        self._control("POST", "reset", {})


class EmulatorClient:
    """A thin client for an emulator's documented API, with the key already set (real HTTP)."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers.update(emulator.auth_headers)

    def url(self, path: str) -> str:
        return self.emulator.base_url + path

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 15)
        kw.setdefault("verify", self.emulator.verify)  # per call: REQUESTS_CA_BUNDLE would override Session.verify
        return self.session.request(method, self.url(path), **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def download(self, url: str, **kw: Any) -> requests.Response:
        """GET a media link (no key: media links are public), trusting the emulator's CA."""
        kw.setdefault("timeout", 30)
        kw.setdefault("verify", self.emulator.verify)
        return requests.get(url, **kw)

    def submit(self, **payload: Any) -> str:
        """Submit ``payload`` for the Kling model; returns the request id (asserts a 200)."""
        response = self.post("/requests", json={"model": MODEL_ID, "payload": payload})
        if response.status_code != 200:
            raise EmulatorError(f"submit -> {response.status_code}: {response.text}")
        return str(response.json()["request_id"])

    def cancel(self, request_id: str) -> dict[str, Any]:
        """``DELETE /requests/{id}``; returns the cancelled request (asserts a 200)."""
        response = self.delete(f"/requests/{request_id}")
        if response.status_code != 200:
            raise EmulatorError(f"cancel -> {response.status_code}: {response.text}")
        return dict(response.json())

    def status(self, request_id: str) -> dict[str, Any]:
        response = self.get(f"/requests/{request_id}")
        if response.status_code != 200:
            raise EmulatorError(f"status -> {response.status_code}: {response.text}")
        return dict(response.json())

    def wait_until(
        self, request_id: str, statuses: tuple[str, ...] = FINAL_STATUSES, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll until the request's status is one of ``statuses``; returns that response."""
        deadline = time.monotonic() + timeout
        while True:
            data = self.status(request_id)
            if data["status"] in statuses:
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"{request_id} still {data['status']} after {timeout:g} s")
            time.sleep(0.05)

    def history(self, request_id: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Each distinct status seen (the full response) while polling until a final one."""
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while not seen or seen[-1]["status"] not in FINAL_STATUSES:
            data = self.status(request_id)
            if not seen or seen[-1]["status"] != data["status"]:
                seen.append(data)
            if time.monotonic() > deadline:
                raise AssertionError(f"{request_id} never finished: {[s['status'] for s in seen]}")
            time.sleep(0.03)
        return seen

    def close(self) -> None:
        self.session.close()
