"""HTTPS: with --tls-cert/--tls-key it speaks only TLS, and every link it hands out is https.

An emulator of this module's own, started with ``tls=True``: a throwaway CA and a server
certificate for 127.0.0.1 and localhost, made with the cryptography library. Clients must trust that CA.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from gmi_emulator.server import TLS_HANDSHAKE_TIMEOUT
from gmi_emulator.testing import EmulatorClient, EmulatorProcess


@pytest.fixture(scope="module")
def tls_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(api_key="tls-key", tls=True, queue_seconds=0, processing_seconds=0.2) as emu:
        yield emu


@pytest.fixture
def client(tls_emulator: EmulatorProcess) -> Iterator[EmulatorClient]:
    tls_emulator.reset()
    client = EmulatorClient(tls_emulator)
    yield client
    client.close()


@pytest.fixture(scope="module")
def video(tls_emulator: EmulatorProcess) -> dict[str, str]:
    """A request that succeeded: its id and (documented-style) outcome."""
    tls_emulator.reset()
    client = EmulatorClient(tls_emulator)
    request_id = client.submit(prompt="a lighthouse over a dark sea", aspect_ratio="1:1")
    final = client.wait_until(request_id, timeout=60)
    client.close()
    assert final["status"] == "success", final
    return {"request_id": request_id, **final["outcome"]}


def _port(emu: EmulatorProcess) -> int:
    return int(emu.root_url.rsplit(":", 1)[1])


def test_it_announces_an_https_address_and_the_process_has_a_ca_to_trust(tls_emulator: EmulatorProcess) -> None:
    assert re.fullmatch(
        r"GMI emulator listening on https://127\.0\.0\.1:\d+/api/v1/apikey\n", tls_emulator.stdout_lines[0]
    )
    assert tls_emulator.root_url.startswith("https://127.0.0.1:")
    assert tls_emulator.base_url == tls_emulator.root_url + "/api/v1/apikey"
    assert tls_emulator.ca_path is not None and tls_emulator.ca_path.is_file()
    assert tls_emulator.verify == str(tls_emulator.ca_path)


def test_a_client_that_does_not_trust_the_ca_is_refused(tls_emulator: EmulatorProcess) -> None:
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(tls_emulator.base_url + "/models", headers=tls_emulator.auth_headers, timeout=10)

    context = ssl.create_default_context()  # the system's CAs
    with (
        socket.create_connection(("127.0.0.1", _port(tls_emulator)), timeout=10) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        context.wrap_socket(raw, server_hostname="127.0.0.1")


def test_a_client_that_trusts_the_ca_is_served(tls_emulator: EmulatorProcess) -> None:
    response = requests.get(
        tls_emulator.base_url + "/models", headers=tls_emulator.auth_headers, timeout=10, verify=tls_emulator.verify
    )

    assert response.status_code == 200
    assert response.json()["model_ids"][0] == "Kling-Text2Video-V1.6-Standard"


def test_the_certificate_names_localhost_too(tls_emulator: EmulatorProcess) -> None:
    url = f"https://localhost:{_port(tls_emulator)}/api/v1/apikey/models"

    response = requests.get(url, headers=tls_emulator.auth_headers, timeout=10, verify=tls_emulator.verify)

    assert response.status_code == 200


def test_the_certificate_passes_strict_x509_verification(tls_emulator: EmulatorProcess) -> None:
    context = ssl.create_default_context(cafile=str(tls_emulator.ca_path))
    context.verify_flags |= ssl.VERIFY_X509_STRICT  # what Python 3.13's default context checks

    with (
        socket.create_connection(("127.0.0.1", _port(tls_emulator)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.getpeercert()["subjectAltName"] == (
            ("IP Address", "127.0.0.1"),
            ("IP Address", "0:0:0:0:0:0:0:1"),
            ("DNS", "localhost"),
        )


def test_plain_http_to_the_tls_port_gets_no_answer(tls_emulator: EmulatorProcess) -> None:
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"http://127.0.0.1:{_port(tls_emulator)}/api/v1/apikey/models", timeout=10)


def test_a_client_stuck_in_the_handshake_does_not_hold_up_the_others(tls_emulator: EmulatorProcess) -> None:
    with socket.create_connection(("127.0.0.1", _port(tls_emulator)), timeout=10):  # connects, never says hello
        started = time.monotonic()
        response = requests.get(tls_emulator.base_url + "/models", timeout=5, verify=tls_emulator.verify)

        assert response.status_code == 401  # no key: answered all the same
        assert time.monotonic() - started < TLS_HANDSHAKE_TIMEOUT / 2  # not after the stuck one's timeout


def test_the_api_and_the_control_endpoint_work_over_tls(client: EmulatorClient, tls_emulator: EmulatorProcess) -> None:
    tls_emulator.configure(queue_seconds=30)
    request_id = client.submit(prompt="over https")

    assert client.status(request_id)["status"] == "queued"
    assert client.cancel(request_id)["status"] == "cancelled"
    assert tls_emulator.state()["requests"] == {request_id: "cancelled"}


def test_media_urls_are_https_on_the_emulators_address(tls_emulator: EmulatorProcess, video: dict[str, str]) -> None:
    request_id = video["request_id"]

    assert video["video_url"] == f"{tls_emulator.root_url}/media/{request_id}.mp4"
    assert video["thumbnail_image_url"] == f"{tls_emulator.root_url}/media/{request_id}.jpg"
    assert video["video_url"].startswith("https://")


def test_the_live_outcome_style_gives_https_media_urls_too(
    client: EmulatorClient, tls_emulator: EmulatorProcess
) -> None:
    tls_emulator.configure(outcome_style="live", queue_seconds=0, processing_seconds=0)
    request_id = client.submit(prompt="a paper crane", aspect_ratio="1:1")

    outcome = client.wait_until(request_id, timeout=60)["outcome"]

    assert outcome["media_urls"] == [{"url": f"{tls_emulator.root_url}/media/{request_id}.mp4"}]
    assert outcome["thumbnail_image_url"].startswith("https://")
    assert client.download(outcome["media_urls"][0]["url"]).headers["Content-Type"] == "video/mp4"


def test_media_downloads_over_tls_whole_and_by_range(client: EmulatorClient, video: dict[str, str]) -> None:
    whole = client.download(video["video_url"])
    head = client.download(video["video_url"], headers={"Range": "bytes=0-99"})
    tail = client.download(video["video_url"], headers={"Range": "bytes=-500"})
    thumbnail = client.download(video["thumbnail_image_url"])

    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    size = int(whole.headers["Content-Length"])
    assert size == len(whole.content) > 1000
    assert head.status_code == 206
    assert head.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert head.content == whole.content[:100]
    assert tail.status_code == 206
    assert tail.content == whole.content[-500:]
    assert thumbnail.status_code == 200
    assert thumbnail.content[:3] == b"\xff\xd8\xff"  # JPEG


def test_media_downloads_are_refused_to_a_client_that_does_not_trust_the_ca(video: dict[str, str]) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(video["video_url"], timeout=10)


def test_stopping_removes_the_throwaway_certificate() -> None:
    emu = EmulatorProcess(tls=True).start()
    folder = Path(str(emu.ca_path)).parent
    assert sorted(p.name for p in folder.iterdir()) == ["ca.pem", "server-key.pem", "server.pem"]

    emu.stop()

    assert not folder.exists()
    assert emu.ca_path is None
