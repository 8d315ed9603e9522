"""Fetching outcome files: https only, public addresses only (but for the local emulator),
every redirect checked, a size cap and a time limit, and nothing of a refusal's body kept."""

from __future__ import annotations

import gzip
import io
import ipaddress
import time
from dataclasses import replace

import pytest

from generations.downloads import DownloadPolicy, checked_addresses, fetch, is_public
from generations.gmi import DownloadRefused, GMIClient, TransientError
from generations.rules import VideoParameters
from tests.conftest import wait_for
from tests.servers import StubServer


@pytest.fixture
def stub(certificate):
    server = StubServer(tls=certificate[:2])
    yield server
    server.close()


def policy_for(server: StubServer, certificate, **changes) -> DownloadPolicy:
    """What the studio allows when `server` is the configured API host (the local emulator)."""
    values = {
        "max_bytes": 1_000_000,
        "timeout": (2.0, 2.0),
        "total_seconds": 10.0,
        "verify": str(certificate[2]),
        "private_host": ("127.0.0.1", int(server.root.rsplit(":", 1)[1])),
    }
    return DownloadPolicy(**{**values, **changes})


def test_the_emulators_video_comes_down_whole(studio_api, certificate):
    client = GMIClient.from_settings()
    request_id = client.submit(VideoParameters(prompt="small clip")).request_id
    outcome = wait_for(lambda: client.get_request(request_id).outcome, message="the video")
    buffer = io.BytesIO()
    size = fetch(outcome.video_url, buffer, DownloadPolicy.from_settings())
    assert outcome.video_url.startswith("https://")
    assert size == len(buffer.getvalue()) > 1000 and buffer.getvalue()[4:8] == b"ftyp"
    with pytest.raises(DownloadRefused, match="cap"):
        fetch(outcome.video_url, io.BytesIO(), replace(DownloadPolicy.from_settings(), max_bytes=1000))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1/v.mp4", "file:///etc/passwd", "ftp://example.invalid/v.mp4", "javascript:alert(1)", "https://"],
)
def test_only_https_links_are_fetched(stub, certificate, url):
    with pytest.raises(DownloadRefused):
        fetch(url, io.BytesIO(), policy_for(stub, certificate))


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "[::ffff:127.0.0.1]",
        "2130706433",  # 127.0.0.1 written as one number
        "169.254.169.254",  # a cloud's metadata service
        "10.0.0.7",
        "192.168.1.1",
        "[::1]",
        "0.0.0.0",
        "224.0.0.1",
        "localhost",
    ],
)
def test_a_link_to_a_private_loopback_or_reserved_address_is_refused(stub, certificate, host):
    policy = policy_for(stub, certificate, private_host=None)
    with pytest.raises(DownloadRefused, match="not a public address"):
        checked_addresses(f"https://{host}:8443/video.mp4", policy)
    assert not stub.seen  # refused before any connection


def test_the_configured_api_host_may_be_private_only_on_its_own_port(stub, certificate):
    policy = policy_for(stub, certificate)
    assert checked_addresses(f"{stub.root}/video.mp4", policy) == {ipaddress.ip_address("127.0.0.1")}
    with pytest.raises(DownloadRefused):
        checked_addresses("https://127.0.0.1:1/video.mp4", policy)  # the same host, another service


def test_public_addresses_are_told_apart_from_the_rest():
    assert is_public(ipaddress.ip_address("8.8.8.8")) and is_public(ipaddress.ip_address("2606:4700::1111"))
    for address in ["100.64.0.1", "198.18.0.1", "::ffff:10.0.0.1", "fe80::1", "ff02::1", "240.0.0.1"]:
        assert not is_public(ipaddress.ip_address(address)), address


def test_a_redirect_to_a_private_address_is_refused_on_that_hop(stub, certificate):
    stub.status, stub.headers = 302, {"Location": "https://169.254.169.254/latest/meta-data/"}
    with pytest.raises(DownloadRefused, match=r"169\.254\.169\.254"):
        fetch(f"{stub.root}/video.mp4", io.BytesIO(), policy_for(stub, certificate))


def test_an_error_answer_leaves_its_body_out_of_the_reason(stub, certificate):
    stub.status, stub.body = 403, b"<Error><Code>AccessDenied</Code><Secret>internal-bucket-name</Secret></Error>"
    with pytest.raises(TransientError) as caught:
        fetch(f"{stub.root}/video.mp4", io.BytesIO(), policy_for(stub, certificate))
    assert str(caught.value) == "The file link answered HTTP 403"


def test_a_compressed_download_is_stored_as_the_file_itself(stub, certificate):
    video = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40
    stub.body, stub.headers = gzip.compress(video), {"Content-Encoding": "gzip"}
    buffer = io.BytesIO()
    assert fetch(f"{stub.root}/v.mp4", buffer, policy_for(stub, certificate)) == len(video)
    assert buffer.getvalue() == video


def test_a_download_that_dribbles_gives_up_at_its_time_limit(stub, certificate):
    stub.body, stub.drip = b"x" * 100, 0.05  # every byte within the read timeout, the whole far too slow
    started = time.monotonic()
    with pytest.raises(TransientError, match="took longer than 1 s"):
        fetch(f"{stub.root}/v.mp4", io.BytesIO(), policy_for(stub, certificate, total_seconds=1.0))
    assert time.monotonic() - started < 2


def test_the_api_key_is_never_sent_to_a_file_link(studio_api, stub, certificate):
    stub.body = b"video bytes"
    fetch(f"{stub.root}/v.mp4", io.BytesIO(), policy_for(stub, certificate))
    assert "Authorization" not in stub.seen[-1]
    assert studio_api.api_key not in str(stub.seen[-1])
