"""Run an emulator in a subprocess, for tests, fixtures and benchmarks.

Example::

    with EmulatorProcess(api_key="test-key", queue_seconds=0.2, processing_seconds=3) as emu:
        requests.post(f"{emu.base_url}/requests", json=..., headers=emu.auth_headers)
        emu.configure(fail_rate=1.0)
        emu.state()["submissions"]
"""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import requests

from gmi_emulator import API_PREFIX, MODEL_ID

LISTENING_RE = re.compile(r"^GMI emulator listening on (http://\S+?)" + re.escape(API_PREFIX) + r"\s*$")
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
    """

    def __init__(
        self,
        api_key: str | None = "test-key",
        *,
        startup_timeout: float = 20.0,
        env: Mapping[str, str] | None = None,
        **cli_options: Any,
    ) -> None:
        # None: pass no --api-key, so GMI_EMULATOR_API_KEY (or the built-in default) applies.
        self.api_key = api_key if api_key is not None else (env or {}).get("GMI_EMULATOR_API_KEY", "emulator-key")
        self._pass_key = api_key is not None
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.cli_options = {"port": 0, "host": "127.0.0.1", **cli_options}
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
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        return process.returncode

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

    def _control(self, method: str, name: str, payload: Any = None) -> Any:
        if not self.root_url:
            raise EmulatorError("emulator not started")
        response = self._session.request(method, f"{self.root_url}/_emulator/{name}", json=payload, timeout=10)
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

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url(path), timeout=kw.pop("timeout", 15), **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.url(path), timeout=kw.pop("timeout", 15), **kw)

    def submit(self, **payload: Any) -> str:
        """Submit ``payload`` for the Kling model; returns the request id (asserts a 200)."""
        response = self.post("/requests", json={"model": MODEL_ID, "payload": payload})
        if response.status_code != 200:
            raise EmulatorError(f"submit -> {response.status_code}: {response.text}")
        return str(response.json()["request_id"])

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
