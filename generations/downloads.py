"""Fetching a finished video and its thumbnail from the links the service gives.

The links point at storage, not at the API: the key is never sent there. Whatever a
link says, the studio fetches only https links to public addresses: a link to the
loopback, private, link-local, multicast or reserved ranges would have a worker read
internal services and hand what it read to the team (server-side request forgery).
Each redirect is checked the same way, the address actually connected to must be one
that was checked, and each file has a size cap and a time limit. The one exception is
the local emulator: with GMI_ALLOW_PRIVATE_API_HOST, links on the API's own host and
port may resolve to a private address.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

from generations.gmi import USER_AGENT, DownloadRefused, TransientError

CHUNK = 256 * 1024
MAX_REDIRECTS = 5
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int
    timeout: tuple[float, float]  # connect, and each read
    total_seconds: float  # the whole download
    verify: str | bool = True  # a CA bundle, or the system's
    private_host: tuple[str, int] | None = None  # the API's host and port, when it may be private

    @classmethod
    def from_settings(cls) -> DownloadPolicy:
        from django.conf import settings

        api = urlsplit(settings.GMI_API_BASE_URL)
        return cls(
            max_bytes=settings.GMI_MAX_DOWNLOAD_BYTES,
            timeout=(settings.GMI_CONNECT_TIMEOUT, settings.GMI_READ_TIMEOUT),
            total_seconds=settings.GMI_DOWNLOAD_TIMEOUT,
            verify=settings.GMI_CA_BUNDLE or True,
            private_host=_host_and_port(api) if settings.GMI_ALLOW_PRIVATE_API_HOST else None,
        )


def fetch(url: str, destination: IO[bytes], policy: DownloadPolicy) -> int:
    """Stream the file at `url` into `destination`; returns the bytes written."""
    give_up_at = time.monotonic() + policy.total_seconds
    with requests.Session() as session:
        session.trust_env = False  # no proxy or netrc from the environment: the address checked is the one used
        for _ in range(MAX_REDIRECTS + 1):
            addresses = checked_addresses(url, policy)
            try:
                response = session.get(
                    url,
                    stream=True,
                    allow_redirects=False,
                    timeout=policy.timeout,
                    verify=policy.verify,
                    headers={"User-Agent": USER_AGENT},
                )
            except requests.RequestException as exc:
                raise TransientError(f"Could not download the file: {type(exc).__name__}") from exc
            with response:
                _check_peer(response, addresses)
                if response.is_redirect:
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status_code != 200:  # the body is not read: it is no one's business here
                    raise TransientError(f"The file link answered HTTP {response.status_code}")
                return _copy(response, destination, policy, give_up_at)
    raise DownloadRefused(f"The file link redirected more than {MAX_REDIRECTS} times")


def checked_addresses(url: str, policy: DownloadPolicy) -> set[IPAddress]:
    """The addresses `url` resolves to, once each is known to be allowed; raises DownloadRefused."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise DownloadRefused(f"Refusing to download {url[:80]!r}: only https links are fetched")
    try:
        host_and_port = _host_and_port(parts)
        found = socket.getaddrinfo(parts.hostname, host_and_port[1], type=socket.SOCK_STREAM)
    except ValueError:
        raise DownloadRefused(f"Refusing to download {url[:80]!r}: the link is malformed") from None
    except OSError as exc:
        raise TransientError(f"Could not resolve the file link's host: {exc}") from exc
    addresses = {_address(info[4][0]) for info in found}
    if host_and_port != policy.private_host:
        for address in addresses:
            if not is_public(address):
                raise DownloadRefused(f"Refusing to download from {parts.hostname}: {address} is not a public address")
    return addresses


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    special = (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )
    return address.is_global and not special


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone


def _host_and_port(parts) -> tuple[str, int]:
    return (parts.hostname or "").lower(), parts.port or (443 if parts.scheme == "https" else 80)


def _check_peer(response: requests.Response, addresses: set[IPAddress]) -> None:
    """The name was checked, then looked up again to connect: refuse an answer from elsewhere."""
    connection = getattr(response.raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    if _address(sock.getpeername()[0]) not in addresses:
        raise DownloadRefused("The file link's address changed between checking it and connecting to it")


def _copy(response: requests.Response, destination: IO[bytes], policy: DownloadPolicy, give_up_at: float) -> int:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > policy.max_bytes:
        raise DownloadRefused(f"The file is {int(declared):,} bytes; the cap is {policy.max_bytes:,}")
    written = 0
    try:
        # read1 returns what one read of the socket gives, so a server that drips bytes
        # cannot hold the download past its time limit.
        while chunk := response.raw.read1(CHUNK, decode_content=True):
            written += len(chunk)
            if written > policy.max_bytes:
                raise DownloadRefused(f"The file is over the {policy.max_bytes:,} byte cap")
            if time.monotonic() > give_up_at:
                raise TransientError(f"The download took longer than {policy.total_seconds:g} s")
            destination.write(chunk)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:  # a broken connection, bad gzip
        raise TransientError(f"Could not download the file: {type(exc).__name__}") from exc
    received = response.raw.tell()  # as sent, before any Content-Encoding is undone
    if declared.isdigit() and received != int(declared):
        raise TransientError(f"The download ended after {received:,} of {int(declared):,} bytes")
    return written
