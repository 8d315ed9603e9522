"""Injected faults: 5xx per endpoint, rate limits with Retry-After, latency."""

from __future__ import annotations

import time

import pytest
import requests

from gmi_emulator import MODEL_ID
from gmi_emulator.testing import DOCUMENTED_EXAMPLE_BODY, EmulatorProcess
from gmi_emulator.testing import EmulatorClient as Api

CALLS = {
    "submit": ("POST", "/requests"),
    "get_request": ("GET", "/requests/{id}"),
    "list_requests": ("GET", "/requests"),
    "get_model": ("GET", f"/models/{MODEL_ID}"),
    "list_models": ("GET", "/models"),
    "cancel_request": ("DELETE", "/requests/{id}"),  # last: the others still see the request unfinished
}


def _call(api: Api, endpoint: str, request_id: str) -> requests.Response:
    method, path = CALLS[endpoint]
    path = path.format(id=request_id)
    if method == "POST":
        return api.post(path, json=DOCUMENTED_EXAMPLE_BODY)
    return api.request(method, path)


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_an_error_rate_for_one_endpoint_gives_it_5xx_and_leaves_the_others_alone(
    api: Api, emulator: EmulatorProcess, endpoint: str
) -> None:
    request_id = api.submit(prompt="existing")
    emulator.configure(error_rate={endpoint: 1.0})

    broken = [_call(api, endpoint, request_id) for _ in range(8)]
    others = [_call(api, other, request_id) for other in CALLS if other != endpoint]

    assert {r.status_code for r in broken} <= {500, 502, 503}
    assert all(r.status_code == 200 for r in others), [r.status_code for r in others]


def test_injected_errors_are_a_mix_of_500_502_and_503_some_not_json(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_rate=1.0)

    responses = [api.get("/models") for _ in range(40)]

    assert {r.status_code for r in responses} == {500, 502, 503}
    assert any(r.headers["Content-Type"].startswith("text/html") for r in responses)
    assert any(r.headers["Content-Type"] == "application/json" for r in responses)


def test_a_submit_that_got_an_injected_error_was_not_recorded(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_rate={"submit": 1.0})

    assert api.post("/requests", json=DOCUMENTED_EXAMPLE_BODY).status_code >= 500
    assert emulator.state()["submissions"] == 0


def test_an_error_rate_of_a_half_fails_about_half_the_requests(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_rate=0.5)

    failures = sum(api.get("/models").status_code >= 500 for _ in range(100))

    assert 25 <= failures <= 75


def test_past_the_rate_limit_requests_get_429_with_retry_after(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(rate_limit=3, rate_window=2)

    statuses = [api.get("/models").status_code for _ in range(3)]
    limited = api.get("/models")

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    assert limited.json()["error"]
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 2
    time.sleep(retry_after)
    assert api.get("/models").status_code == 200


def test_the_rate_limit_counts_every_endpoint_but_not_the_control_endpoint(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(rate_limit=2, rate_window=60)
    api.get("/models")
    api.submit(prompt="second request")
    for _ in range(5):
        emulator.state()

    assert api.get("/requests").status_code == 429
    assert api.post("/requests", json=DOCUMENTED_EXAMPLE_BODY).status_code == 429


def test_latency_delays_every_api_response(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(latency=0.4)

    started = time.monotonic()
    response = api.get("/models")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.4


def test_latency_does_not_slow_the_control_endpoint(emulator: EmulatorProcess) -> None:
    emulator.configure(latency=2)

    started = time.monotonic()
    emulator.state()

    assert time.monotonic() - started < 1.0


def test_under_latency_a_submit_is_recorded_before_the_client_gets_the_answer(
    api: Api, emulator: EmulatorProcess
) -> None:
    emulator.configure(latency=1.5)

    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post("/requests", json=DOCUMENTED_EXAMPLE_BODY, timeout=0.5)

    state = emulator.state()
    assert state["submissions"] == 1
    assert state["submissions_by_prompt"] == {DOCUMENTED_EXAMPLE_BODY["payload"]["prompt"]: 1}


def test_a_list_limit_shows_only_the_newest_requests_and_says_how_many_there_are(
    api: Api, emulator: EmulatorProcess
) -> None:
    ids = [api.submit(prompt=f"request {n}") for n in range(5)]
    emulator.configure(list_limit=2)

    listed = api.get("/requests", params={"model_id": MODEL_ID}).json()

    assert [item["request_id"] for item in listed["requests"]] == [ids[4], ids[3]]
    assert listed["total"] == 5
    emulator.configure(list_limit=0)
    assert len(api.get("/requests", params={"model_id": MODEL_ID}).json()["requests"]) == 5


def test_every_api_call_is_counted_by_endpoint_and_final_requests_carry_their_exact_end(
    api: Api, emulator: EmulatorProcess
) -> None:
    request_id = api.submit(prompt="counted")
    api.get("/requests", params={"model_id": MODEL_ID})
    api.get("/models")
    emulator.configure(error_rate={"list_models": 1.0})
    api.get("/models")  # answered with a 5xx, still a call
    api.wait_until(request_id, ("success",))
    api.delete(f"/requests/{request_id}")  # too late: 409, still a call

    state = emulator.state()

    assert state["calls"]["submit"] == 1 and state["calls"]["list_requests"] == 1
    assert state["calls"]["list_models"] == 2
    assert state["calls"]["cancel_request"] == 1
    assert state["calls"]["get_request"] >= 1
    assert int(state["finished_at"][request_id]) == api.status(request_id)["updated_at"]  # the same moment, finer
