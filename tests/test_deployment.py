"""The deployment recipe's own parts: compose.yaml's S3 server, as its command line runs it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from kling_studio.localservices import free_port

BASE_DIR = Path(__file__).resolve().parent.parent
S3_COMMAND = '["python", "-m", "kling_studio.seaweedfs", "/data", "8333", "s3"]'


def test_compose_runs_the_s3_server_with_the_studios_own_launcher():
    compose = (BASE_DIR / "compose.yaml").read_text()
    assert f"command: {S3_COMMAND}" in compose
    assert "AWS_S3_ENDPOINT_URL: http://s3:8333" in compose


def test_the_compose_s3_server_keeps_the_bucket_for_its_one_identity_and_refuses_anyone_else(tmp_path):
    """`python -m kling_studio.seaweedfs DIR PORT HOST`, as compose.yaml starts it (here on a
    free port, reached as 127.0.0.1): the bucket exists at once, the identity from the
    environment may write and read it, an anonymous request may not."""
    port, bucket = free_port(), "compose-bucket"
    env = {"PATH": str(Path(sys.executable).parent), "AWS_STORAGE_BUCKET_NAME": bucket}
    env |= {"AWS_ACCESS_KEY_ID": "compose-test", "AWS_SECRET_ACCESS_KEY": "a-secret-of-the-compose-test"}
    with open(tmp_path / "weed.out", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "kling_studio.seaweedfs", str(tmp_path), str(port), "127.0.0.1"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "weed.out").read_text(errors="replace")[-3000:]
            try:
                client.head_bucket(Bucket=bucket)
                break
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    pytest.fail("the bucket was not there within 60 s")
                time.sleep(0.2)
        client.put_object(Bucket=bucket, Key="videos/a.mp4", Body=b"\x00\x00\x00\x18ftypmp42")
        assert client.get_object(Bucket=bucket, Key="videos/a.mp4")["Body"].read() == b"\x00\x00\x00\x18ftypmp42"
        assert requests.get(f"http://127.0.0.1:{port}/{bucket}/videos/a.mp4", timeout=10).status_code == 403
    finally:
        process.terminate()
        process.wait(30)
