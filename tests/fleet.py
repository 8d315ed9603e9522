"""Several machines on this one, for the scale-out test: each studio process (web, worker,
beat) runs as a separate OS process, with the README's production command, in an empty
directory of its own that is its working directory, MEDIA_ROOT and TMPDIR. The processes
share only what the environment names: PostgreSQL, Redis and the S3 bucket.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from kling_studio.localservices import BASE_DIR, free_port, is_listening


def machine_environment(shared: dict[str, str]) -> dict[str, str]:
    """This process's environment for a studio process, less what would tie it to this test
    (its database, async-unsafe ORM calls) or to another bucket, plus the `shared` settings."""
    own = ("DATABASE_URL", "REDIS_URL", "MEDIA_ROOT", "STATIC_ROOT", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {name: value for name, value in os.environ.items() if name not in own and not name.startswith("AWS_")}
    return {**env, **shared, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(BASE_DIR)}


def collect_static(directory: Path, env: dict[str, str]) -> subprocess.Popen:
    """`collectstatic` into `directory`, as the image's build does: the release's static files."""
    command = [sys.executable, "manage.py", "collectstatic", "--noinput"]
    return subprocess.Popen(
        command, cwd=BASE_DIR, env={**env, "STATIC_ROOT": str(directory)}, stdout=subprocess.DEVNULL
    )


class StudioProcess:
    """One process of the studio in a directory of its own, its output in `log`."""

    def __init__(self, name: str, command: list[str], directory: Path, env: dict[str, str], log: Path):
        self.name, self.directory, self.log = name, directory, log
        self.media_root, self.tmp = directory / "media", directory / "tmp"
        for path in (self.media_root, self.tmp):
            path.mkdir(parents=True)
        env = {**env, "MEDIA_ROOT": str(self.media_root), "TMPDIR": str(self.tmp)}
        env["STATIC_ROOT"] = str(directory / "static")
        with open(log, "wb") as output:
            self.process = subprocess.Popen(
                command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def log_lines(self) -> list[dict]:
        """Its JSON log lines (DEBUG=False logs JSON); banners and the like are left out."""
        lines = []
        for line in self.output().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines

    def files_in_media_root(self) -> list[Path]:
        return [path for path in self.media_root.rglob("*") if path.is_file()]

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not say {text!r}:\n{self.output()[-3000:]}")
            time.sleep(0.1)

    def terminate(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)

    def wait_or_kill(self, timeout: float = 15) -> None:
        """Wait for it to end, then SIGKILL whatever is left of its process group."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


class WebProcess(StudioProcess):
    """The README's web command, one uvicorn process, on a free loopback port."""

    def __init__(self, name: str, directory: Path, env: dict[str, str], log: Path, static: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        shutil.copytree(static, directory / "static")  # the release's files, a copy per machine
        command = [
            sys.executable, "-m", "uvicorn", "kling_studio.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port), "--timeout-graceful-shutdown", "2", "--lifespan", "off",
        ]  # fmt: skip
        super().__init__(name, command, directory, env, log)

    def wait_until_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not is_listening("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not listen on {self.port}:\n{self.output()[-3000:]}")
            time.sleep(0.1)


class Fleet:
    """The studio's processes, each on a 'machine' of its own; `stop` ends every one."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.processes: list[StudioProcess] = []

    def web(self, name: str, static: Path) -> WebProcess:
        return self._add(WebProcess(name, self.root / name, self.env, self.logs / f"{name}.log", static))

    def worker(self, name: str) -> StudioProcess:
        """The README's worker command; the node name tells the two apart on one host."""
        command = [sys.executable, "-m", "celery", "-A", "kling_studio", "worker", "--loglevel=INFO"]
        command += ["--concurrency=2", "--hostname", f"{name}@%h"]
        return self._add(StudioProcess(name, command, self.root / name, self.env, self.logs / f"{name}.log"))

    def beat(self, name: str = "beat") -> StudioProcess:
        directory = self.root / name
        command = [sys.executable, "-m", "celery", "-A", "kling_studio", "beat", "--loglevel=INFO"]
        command += ["--schedule", str(directory / "celerybeat-schedule")]
        return self._add(StudioProcess(name, command, directory, self.env, self.logs / f"{name}.log"))

    def _add(self, process: StudioProcess) -> StudioProcess:
        self.processes.append(process)
        return process

    def outputs(self) -> str:
        """The end of every process's output, for a failing assertion's message."""
        return "\n".join(f"--- {p.name} ---\n{p.output()[-2000:]}" for p in self.processes)

    def stop(self) -> None:
        """SIGTERM to every process group at once (each one's children too), SIGKILL to what lingers."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait_or_kill()
