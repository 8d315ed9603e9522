"""The one client of GMI Cloud's request-queue API. Nothing else speaks HTTP to it.

Every call has explicit connect and read timeouts and ends either in a parsed value or in
one of a few errors, each saying through `retryable` whether trying again can help.
Parsing follows the documented contract and tolerates what the live service is known to
do differently: a `dispatched` status, outcomes as `media_urls[0].url`, extra fields.
"""

from __future__ import annotations

import email.utils
import enum
import functools
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from generations.rules import MODEL_ID, VideoParameters
from kling_studio import __version__, metrics

logger = logging.getLogger(__name__)

USER_AGENT = f"KlingStudio/{__version__} python-requests/{requests.__version__}"


class GMIError(Exception):
    """The API call did not give what was asked for."""

    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class AuthenticationError(GMIError):
    """401/403: the key is missing, wrong or not allowed to do this."""


class BadRequestError(GMIError):
    """400/422: the service refused the request; `message` is its reason."""


class NotFoundError(GMIError):
    """404: no such request or model."""


class DownloadRefused(GMIError):
    """An outcome file that must not be fetched: not https, not a public address, or too big."""


class RateLimitedError(GMIError):
    """429: the organisation's rate limit; `retry_after` is the wait in seconds, if given."""

    retryable = True

    def __init__(self, message: str, *, status_code: int | None = 429, retry_after: float | None = None):
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class TransientError(GMIError):
    """5xx, a timeout, a broken connection or a body that is not the JSON expected."""

    retryable = True


def outcome_of(exc: GMIError) -> str:
    """The class of a failed call, as the metrics count it."""
    if isinstance(exc, TransientError):  # no status code: a timeout or a broken connection
        return "unreachable" if exc.status_code is None else "server_error" if exc.status_code >= 500 else "other_error"
    names = {AuthenticationError: "auth_error", BadRequestError: "bad_request", NotFoundError: "not_found"}
    return "rate_limited" if isinstance(exc, RateLimitedError) else names.get(type(exc), "other_error")


def describe(exc: GMIError) -> str:
    """The reason a person reads on the generation's card."""
    if isinstance(exc, AuthenticationError):
        return "The video service refused the studio's API key; an administrator needs to check it."
    if isinstance(exc, NotFoundError):
        return "The video service no longer knows this request."
    if isinstance(exc, RateLimitedError):
        return "The video service's rate limit for this organisation was reached."
    if exc.retryable:
        return f"The video service could not be reached: {exc.message}."
    return f"The video service rejected the request: {exc.message}"


class RemoteStatus(enum.StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (RemoteStatus.SUCCESS, RemoteStatus.FAILED, RemoteStatus.CANCELLED)

    @classmethod
    def parse(cls, value: Any) -> RemoteStatus:
        try:
            return cls(str(value).lower())
        except ValueError:
            if value != "dispatched":  # the live service's name for "being worked on"
                logger.warning("Unknown request status %r, treated as in progress", value)
            return cls.PROCESSING


@dataclass(frozen=True)
class Outcome:
    video_url: str
    thumbnail_url: str = ""


@dataclass(frozen=True)
class RemoteRequest:
    request_id: str
    status: RemoteStatus
    model: str = MODEL_ID
    payload: Mapping[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None
    error: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    queued_at: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> RemoteRequest:
        if not isinstance(data, Mapping) or not data.get("request_id"):
            raise TransientError(f"Expected a request object from the API, got {_preview(data)}")
        payload = data.get("payload")
        return cls(
            request_id=str(data["request_id"]),
            status=RemoteStatus.parse(data.get("status")),
            model=str(data.get("model") or data.get("model_id") or MODEL_ID),
            payload=payload if isinstance(payload, Mapping) else {},
            outcome=_parse_outcome(data),
            error=_error_text(data),
            created_at=_parse_time(data.get("created_at")),
            updated_at=_parse_time(data.get("updated_at")),
            queued_at=_parse_time(data.get("queued_at")),
        )


def _parse_outcome(data: Mapping[str, Any]) -> Outcome | None:
    outcome = data.get("outcome")
    for source in (outcome, data):
        if not isinstance(source, Mapping):
            continue
        video = source.get("video_url")
        media = source.get("media_urls")
        if not video and isinstance(media, list) and media:
            first = media[0]
            video = first.get("url") if isinstance(first, Mapping) else first
        if isinstance(video, str) and video:
            thumbnail = source.get("thumbnail_image_url") or source.get("thumbnail_url") or ""
            return Outcome(video_url=video, thumbnail_url=str(thumbnail))
    return None


def _error_text(data: Any) -> str:
    """A readable reason from an error body of no fixed shape."""
    if isinstance(data, Mapping):
        for key in ("error", "message", "detail", "error_message", "reason", "msg"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:500]
            if isinstance(value, Mapping | list) and (nested := _error_text(value)):
                return nested
    if isinstance(data, list) and data:
        return _error_text(data[0])
    return ""


WRAPPED_400 = re.compile(r"\b(?:returned|status(?: code)?|code)\W{0,3}400\b", re.IGNORECASE)


def _wrapped_bad_request(data: Any) -> str:
    """The backend's reason, when an error body carries its 400; else an empty string."""
    if isinstance(data, Mapping):
        for value in data.values():
            if isinstance(value, Mapping) and str(value.get("code") or value.get("status") or "") == "400":
                return _error_text(value) or "the request was refused (HTTP 400)"
    text = _error_text(data)
    return text if WRAPPED_400.search(text) else ""


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bool) or value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _preview(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 120 else text[:117] + "..."


class GMIClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        org_id: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        verify: str | bool = True,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.verify = verify  # a CA bundle (the emulator's), or the system's
        self._api_key = api_key
        self._session = requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._session.headers["Accept"] = "application/json"
        if org_id:
            self._session.headers["X-Organization-ID"] = org_id

    def __repr__(self) -> str:  # never shows the key
        return f"<GMIClient {self.base_url}>"

    @classmethod
    def from_settings(cls, *, timeouts: tuple[float, float] | None = None) -> GMIClient:
        """The client the settings describe, one per process and thread, so that its
        connection to the service is kept alive from one tick (or submit) to the next.
        `timeouts` (connect, read) replaces the settings' for a caller in a hurry."""
        from django.conf import settings

        return _shared_client(
            settings.GMI_API_BASE_URL,
            settings.GMI_API_KEY,
            settings.GMI_ORG_ID,
            timeouts or (settings.GMI_CONNECT_TIMEOUT, settings.GMI_READ_TIMEOUT),
            settings.GMI_CA_BUNDLE or True,
            (os.getpid(), threading.get_ident()),  # a session is not shared across a fork or threads
        )

    # The five documented endpoints.

    def submit(self, parameters: VideoParameters, model: str = MODEL_ID) -> RemoteRequest:
        body = {"model": model, "payload": parameters.as_payload()}
        return RemoteRequest.from_json(self._call("submit", "POST", "/requests", json=body))

    def get_request(self, request_id: str) -> RemoteRequest:
        return RemoteRequest.from_json(self._call("get_request", "GET", f"/requests/{quote(request_id, safe='')}"))

    def cancel(self, request_id: str) -> RemoteRequest | None:
        """Ask the service to cancel a request (best effort); None if it was already final or gone."""
        try:
            return RemoteRequest.from_json(self._call("cancel", "DELETE", f"/requests/{quote(request_id, safe='')}"))
        except NotFoundError:
            return None
        except TransientError as exc:
            if exc.status_code == 409:  # already final: nothing left to cancel
                return None
            raise

    def list_requests(self, model_id: str = MODEL_ID) -> list[RemoteRequest]:
        data = self._call("list_requests", "GET", "/requests", params={"model_id": model_id})
        if isinstance(data, Mapping):
            data = next((data[k] for k in ("requests", "data", "items", "results") if k in data), None)
        if not isinstance(data, list):
            raise TransientError(f"Expected a list of requests from the API, got {_preview(data)}")
        requests_ = []
        for item in data:
            try:
                requests_.append(RemoteRequest.from_json(item))
            except TransientError:  # one odd entry must not hide all the others
                logger.warning("Skipped an entry of the request list that is not a request: %s", _preview(item))
        return requests_

    def get_model(self, model_id: str = MODEL_ID) -> dict[str, Any]:
        data = self._call("get_model", "GET", f"/models/{quote(model_id, safe='')}")
        if not isinstance(data, dict):
            raise TransientError(f"Expected model information from the API, got {_preview(data)}")
        return data

    def list_models(self) -> list[str]:
        data = self._call("list_models", "GET", "/models")
        ids = data.get("model_ids") if isinstance(data, Mapping) else data
        if not isinstance(ids, list):
            raise TransientError(f"Expected a list of model ids from the API, got {_preview(data)}")
        return [str(i) for i in ids]

    # Plumbing.

    def _call(self, endpoint: str, method: str, path: str, **kwargs: Any) -> Any:
        """One request to the service, counted (kling_studio.metrics) by endpoint and outcome."""
        if not self._api_key:
            raise AuthenticationError("No GMI API key is configured (set GMI_API_KEY)")
        try:
            data = self._send(method, path, **kwargs)
        except GMIError as exc:
            metrics.count_api_call(endpoint, outcome_of(exc))
            raise
        metrics.count_api_call(endpoint, "ok")
        return data

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self._api_key}"}
        started = time.monotonic()
        try:
            response = self._session.request(
                method, self.base_url + path, headers=headers, timeout=self.timeout, verify=self.verify, **kwargs
            )
        except requests.Timeout as exc:
            raise TransientError(f"The video service did not answer in time ({method} {path})") from exc
        except requests.RequestException as exc:
            raise TransientError(f"Could not reach the video service: {type(exc).__name__}") from exc
        logger.log(
            logging.DEBUG
            if method == "GET" and response.status_code < 400
            else logging.INFO,  # the tick's, every second
            "GMI %s %s -> %s in %.0f ms",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        if response.status_code >= 400:
            raise self._error_for(response)
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"The video service answered {response.status_code} with a body that is not JSON",
                status_code=response.status_code,
            ) from None

    @staticmethod
    def _error_for(response: requests.Response) -> GMIError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        reason = _error_text(body)
        reason = reason or (response.reason or "").strip() or f"HTTP {status}"
        if status in (401, 403):
            return AuthenticationError(f"The video service refused the API key: {reason}", status_code=status)
        if status in (400, 422):
            return BadRequestError(reason, status_code=status)
        if status == 404:
            return NotFoundError(f"Not found: {reason}", status_code=status)
        if status == 429:
            return RateLimitedError(
                f"Rate limited by the video service: {reason}",
                retry_after=_parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 and (refused := _wrapped_bad_request(body)):
            # The live service sometimes answers 500 for a request its backend refused with
            # a 400: trying it again cannot help.
            return BadRequestError(refused, status_code=status)
        if status >= 500 or status in (408, 409, 425):
            return TransientError(f"The video service had a problem (HTTP {status}): {reason}", status_code=status)
        return BadRequestError(f"The video service answered HTTP {status}: {reason}", status_code=status)


@functools.lru_cache(maxsize=16)
def _shared_client(
    base_url: str, api_key: str, org_id: str, timeouts: tuple[float, float], verify: str | bool, owner: tuple[int, int]
) -> GMIClient:
    connect, read = timeouts
    return GMIClient(base_url, api_key, org_id=org_id, connect_timeout=connect, read_timeout=read, verify=verify)
