"""The API client against the running emulator: every endpoint, every error class."""

from __future__ import annotations

import json
import time

import pytest

from generations.gmi import (
    AuthenticationError,
    BadRequestError,
    GMIClient,
    NotFoundError,
    RateLimitedError,
    RemoteRequest,
    RemoteStatus,
    TransientError,
)
from generations.rules import MODEL_ID, InvalidParameters, VideoParameters
from kling_studio.localservices import free_port
from tests.conftest import wait_for
from tests.factories import DOCUMENTED_EXAMPLE
from tests.servers import StubServer

EAGLE = DOCUMENTED_EXAMPLE


def follow(client: GMIClient, request_id: str) -> tuple[RemoteRequest, set[RemoteStatus]]:
    """Poll until the request is final; returns it and every status seen on the way."""
    seen: set[RemoteStatus] = set()

    def final():
        remote = client.get_request(request_id)
        seen.add(remote.status)
        return remote if remote.status.is_final else None

    return wait_for(final, timeout=60, message="the request to finish"), seen


@pytest.fixture
def api(emulator):
    emulator.reset()
    return emulator


@pytest.fixture
def client(api, certificate) -> GMIClient:
    return GMIClient(api.base_url, api.api_key, connect_timeout=2, read_timeout=5, verify=str(certificate[2]))


def test_it_submits_a_request_and_reads_it_back(client, api):
    submitted = client.submit(EAGLE)
    assert submitted.status == RemoteStatus.QUEUED
    assert submitted.created_at is not None and submitted.created_at.tzinfo is not None
    fetched = client.get_request(submitted.request_id)
    assert fetched.request_id == submitted.request_id
    assert fetched.model == MODEL_ID
    assert fetched.payload["prompt"] == EAGLE.prompt
    assert fetched.payload["cfg_scale"] == 0.7
    assert api.state()["submissions"] == 1


def test_it_follows_a_request_to_its_outcome(client):
    remote, seen = follow(client, client.submit(EAGLE).request_id)
    assert remote.status == RemoteStatus.SUCCESS
    assert RemoteStatus.PROCESSING in seen
    assert remote.outcome.video_url.endswith(".mp4")
    assert remote.outcome.thumbnail_url.endswith(".jpg")


def test_it_lists_requests_for_the_model(client):
    first = client.submit(EAGLE)
    second = client.submit(VideoParameters(prompt="A quiet harbour at dawn"))
    listed = {remote.request_id: remote for remote in client.list_requests()}
    assert {first.request_id, second.request_id} <= set(listed)
    assert listed[second.request_id].payload["prompt"] == "A quiet harbour at dawn"


def test_it_reads_model_information_and_the_model_list(client):
    assert MODEL_ID in client.list_models()
    info = client.get_model(MODEL_ID)
    assert MODEL_ID in json.dumps(info)


def test_it_checks_parameters_before_spending_an_api_call(client, api):
    with pytest.raises(InvalidParameters):
        client.submit(VideoParameters(prompt="x" * 2501))
    assert api.state()["submissions"] == 0


def test_a_missing_key_is_an_authentication_error_without_a_call(api):
    with pytest.raises(AuthenticationError) as caught:
        GMIClient(api.base_url, "").list_models()
    assert not caught.value.retryable


def test_a_wrong_key_is_an_authentication_error(api):
    with pytest.raises(AuthenticationError) as caught:
        GMIClient(api.base_url, "wrong-key", verify=api.verify).list_models()
    assert caught.value.status_code == 401
    assert not caught.value.retryable
    assert "wrong-key" not in str(caught.value)


def test_an_unknown_model_is_not_found_as_the_live_service_says(client):
    with pytest.raises(NotFoundError) as caught:
        client.submit(EAGLE, model="Not-A-Real-Model")
    assert caught.value.status_code == 404
    assert "Not-A-Real-Model" in caught.value.message
    assert not caught.value.retryable


def test_a_refused_request_is_a_bad_request_carrying_the_servers_message(client):
    with pytest.raises(BadRequestError) as caught:
        client.submit(EAGLE, model="Kling-Image2Video-V1.6-Standard")  # listed, not for this endpoint
    assert caught.value.status_code == 400
    assert "model" in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize("shape", ["flat", "nested"])
def test_a_500_wrapping_the_backends_400_is_a_refusal_not_a_reason_to_retry(client, api, shape):
    api.configure(wrap_bad_request_in_500=True, wrapped_error_shape=shape)
    with pytest.raises(BadRequestError) as caught:
        client.submit(EAGLE, model="Kling-Image2Video-V1.6-Standard")
    assert caught.value.status_code == 500
    assert "model" in caught.value.message
    assert not caught.value.retryable


@pytest.mark.parametrize("style", ["message", "detail", "mixed"])
def test_the_reason_is_read_whatever_key_the_service_puts_it_under(client, api, style):
    api.configure(error_style=style)
    with pytest.raises(NotFoundError, match="no-such-request"):
        client.get_request("no-such-request")


def test_a_request_can_be_cancelled_and_cancelling_a_final_or_unknown_one_is_harmless(client, api):
    api.configure(stuck_rate=1.0)
    running = client.submit(EAGLE)
    cancelled = client.cancel(running.request_id)
    assert cancelled.status == RemoteStatus.CANCELLED
    assert client.get_request(running.request_id).status == RemoteStatus.CANCELLED
    assert client.cancel(running.request_id) is None  # already final
    assert client.cancel("no-such-request") is None


def test_an_unknown_request_is_not_found(client):
    with pytest.raises(NotFoundError) as caught:
        client.get_request("00000000-0000-0000-0000-000000000000")
    assert caught.value.status_code == 404
    with pytest.raises(NotFoundError):
        client.get_model("No-Such-Model")


def test_a_rate_limit_says_how_long_to_wait(client, api):
    api.configure(rate_limit=1, rate_window=30)
    client.list_models()
    with pytest.raises(RateLimitedError) as caught:
        client.list_models()
    assert caught.value.retryable
    assert 0 < caught.value.retry_after <= 30


@pytest.mark.parametrize("endpoint", ["submit", "get_request", "list_requests", "get_model", "list_models"])
def test_a_server_error_on_any_endpoint_is_transient(client, api, endpoint):
    known = client.submit(EAGLE).request_id
    api.configure(error_rate={endpoint: 1.0})
    call = {
        "submit": lambda: client.submit(EAGLE),
        "get_request": lambda: client.get_request(known),
        "list_requests": client.list_requests,
        "get_model": client.get_model,
        "list_models": client.list_models,
    }[endpoint]
    with pytest.raises(TransientError) as caught:
        call()
    assert caught.value.retryable
    assert caught.value.status_code >= 500


def test_a_slow_answer_is_a_transient_timeout(api):
    api.configure(latency=2.0)
    impatient = GMIClient(api.base_url, api.api_key, connect_timeout=1, read_timeout=0.5, verify=api.verify)
    with pytest.raises(TransientError, match="did not answer in time"):
        impatient.list_models()


def test_a_service_that_is_not_there_is_transient():
    with pytest.raises(TransientError, match="Could not reach"):
        GMIClient(f"http://127.0.0.1:{free_port()}/api/v1/apikey", "key", connect_timeout=1).list_models()


def test_the_live_services_dispatched_status_and_media_urls_are_understood(client, api):
    api.configure(outcome_style="live")
    remote, seen = follow(client, client.submit(EAGLE).request_id)
    assert RemoteStatus.PROCESSING in seen  # reported as "dispatched"
    assert remote.outcome.video_url.endswith(".mp4")


def test_a_failed_request_carries_the_reason(client, api):
    api.configure(fail_rate=1.0)
    submitted = client.submit(EAGLE)
    remote, _ = follow(client, submitted.request_id)
    assert remote.status == RemoteStatus.FAILED
    assert remote.error
    assert remote.outcome is None


@pytest.fixture
def odd():
    server = StubServer()
    yield server
    server.close()


def test_a_body_that_is_not_json_is_transient(odd):
    odd.body = b"<html>upstream proxy</html>"
    with pytest.raises(TransientError, match="not JSON"):
        GMIClient(odd.url, "key").list_models()


def test_json_of_the_wrong_shape_is_transient(odd):
    odd.body = b'{"unexpected": true}'
    with pytest.raises(TransientError):
        GMIClient(odd.url, "key").get_request("abc")


def test_unknown_fields_and_statuses_are_tolerated(odd):
    odd.body = json.dumps(
        {"request_id": "r1", "status": "warming_up", "created_at": 1750442925, "brand_new_field": [1, 2]}
    ).encode()
    remote = GMIClient(odd.url, "key").get_request("r1")
    assert remote.status == RemoteStatus.PROCESSING
    assert remote.created_at.timestamp() == 1750442925


def test_an_outcome_in_media_urls_is_read(odd):
    odd.body = json.dumps(
        {"request_id": "r1", "status": "success", "outcome": {"media_urls": [{"url": "https://cdn.example/v.mp4"}]}}
    ).encode()
    remote = GMIClient(odd.url, "key").get_request("r1")
    assert remote.outcome.video_url == "https://cdn.example/v.mp4"


def test_retry_after_as_an_http_date_is_understood(odd):
    odd.status = 429
    odd.headers = {"Retry-After": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 20))}
    odd.body = b"slow down"
    with pytest.raises(RateLimitedError) as caught:
        GMIClient(odd.url, "key").list_models()
    assert 10 < caught.value.retry_after <= 21


def test_it_sends_the_key_the_organisation_and_its_name(odd):
    odd.body = b'{"model_ids": []}'
    GMIClient(odd.url, "the-key", org_id="org-7").list_models()
    headers = odd.seen[-1]
    assert headers["Authorization"] == "Bearer the-key"
    assert headers["X-Organization-ID"] == "org-7"
    assert headers["User-Agent"].startswith("KlingStudio/")


def test_a_service_whose_certificate_is_not_trusted_is_not_spoken_to(api):
    with pytest.raises(TransientError, match="SSLError"):
        GMIClient(api.base_url, api.api_key).list_models()  # the system's CAs do not know the emulator's
