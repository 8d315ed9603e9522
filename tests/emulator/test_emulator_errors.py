"""The live service's error bodies: 404 for an unknown model, the error key, and 500s that wrap a 400."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import requests

from gmi_emulator import MODEL_ID
from gmi_emulator.testing import DOCUMENTED_EXAMPLE_BODY, EmulatorProcess
from gmi_emulator.testing import EmulatorClient as Api


def _body(**payload: Any) -> dict[str, Any]:
    body = copy.deepcopy(DOCUMENTED_EXAMPLE_BODY)
    body["payload"].update(payload)
    return body


# -- unknown model -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["Kling-Text2Video-V1.6-Pro", "No-Such-Model", "kling-text2video-v1.6-standard"])
def test_submitting_for_an_unknown_model_is_404_with_an_error_body(
    api: Api, emulator: EmulatorProcess, model: str
) -> None:
    response = api.post("/requests", json={**DOCUMENTED_EXAMPLE_BODY, "model": model})

    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": f"model not found: {model}"}
    assert emulator.state()["submissions"] == 0


def test_an_unknown_model_is_404_even_when_the_payload_is_invalid_too(api: Api) -> None:
    response = api.post("/requests", json={"model": "No-Such-Model", "payload": {"duration": "7"}})

    assert response.status_code == 404


# -- error_style: the key of every API error body ---------------------------------------------------


def _bad_request(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return api.post("/requests", json=_body(duration="7"))


def _unauthorized(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return requests.get(emulator.base_url + "/models", headers={"Authorization": "Bearer nope"}, timeout=10)


def _unknown_request(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return api.get("/requests/550e8400-e29b-41d4-a716-446655440000")


def _unknown_model(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return api.post("/requests", json={"model": "No-Such-Model"})


def _unknown_path(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return api.get("/nothing-here")


def _method_not_allowed(api: Api, emulator: EmulatorProcess) -> requests.Response:
    return api.request("PUT", "/models")


def _conflict(api: Api, emulator: EmulatorProcess) -> requests.Response:
    request_id = api.submit(prompt="cancelled once")
    api.cancel(request_id)
    return api.delete(f"/requests/{request_id}")


def _rate_limited(api: Api, emulator: EmulatorProcess) -> requests.Response:
    emulator.configure(rate_limit=1, rate_window=60)
    api.get("/models")
    return api.get("/models")


def _server_error(api: Api, emulator: EmulatorProcess) -> requests.Response:
    emulator.configure(error_rate={"list_models": 1.0})
    for _ in range(50):
        response = api.get("/models")
        if response.headers["Content-Type"] == "application/json":
            return response
    raise AssertionError("no JSON 5xx in 50 tries")


ERRORS: dict[str, tuple[Callable[[Api, EmulatorProcess], requests.Response], set[int]]] = {
    "400": (_bad_request, {400}),
    "401": (_unauthorized, {401}),
    "404-request": (_unknown_request, {404}),
    "404-model": (_unknown_model, {404}),
    "404-path": (_unknown_path, {404}),
    "405": (_method_not_allowed, {405}),
    "409": (_conflict, {409}),
    "429": (_rate_limited, {429}),
    "5xx": (_server_error, {500, 502, 503}),
}


@pytest.mark.parametrize("style", ["message", "detail"])
@pytest.mark.parametrize("kind", list(ERRORS))
def test_the_error_style_sets_the_key_of_every_api_error_body(
    api: Api, emulator: EmulatorProcess, kind: str, style: str
) -> None:
    make, statuses = ERRORS[kind]
    emulator.configure(error_style=style, queue_seconds=30)

    response = make(api, emulator)

    assert response.status_code in statuses
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert isinstance(body[style], str) and body[style]
    assert "error" not in body


@pytest.mark.parametrize("kind", list(ERRORS))
def test_by_default_every_api_error_body_says_error(api: Api, emulator: EmulatorProcess, kind: str) -> None:
    make, statuses = ERRORS[kind]
    emulator.configure(queue_seconds=30)

    response = make(api, emulator)

    assert response.status_code in statuses
    body = response.json()
    assert isinstance(body["error"], str) and body["error"]
    assert "message" not in body and "detail" not in body


def test_a_400_keeps_naming_the_field_whatever_the_error_style(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_style="detail")

    body = api.post("/requests", json=_body(aspect_ratio="4:3")).json()

    assert body["field"] == "payload.aspect_ratio"
    assert "payload.aspect_ratio" in body["detail"]


def test_the_mixed_error_style_uses_each_key_and_one_per_body(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_style="mixed")

    bodies = [api.get("/requests/unknown").json() for _ in range(40)]

    keys = [next(iter(body)) for body in bodies]
    assert set(keys) == {"error", "message", "detail"}
    assert all(len(body) == 1 for body in bodies)


def test_a_failed_requests_reason_is_not_an_error_body_and_keeps_its_key(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_style="message", fail_rate=1.0, queue_seconds=0, processing_seconds=0)

    final = api.wait_until(api.submit(prompt="fails"))

    assert final["status"] == "failed"
    assert final["error"] and "message" not in final


def test_the_error_style_leaves_media_and_control_errors_alone(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(error_style="message")

    media = requests.get(f"{emulator.root_url}/media/00000000-0000-4000-8000-000000000000.mp4", timeout=10)
    control = requests.post(f"{emulator.root_url}/_emulator/config", json={"colour": "blue"}, timeout=10)

    assert "error" in media.json()
    assert "error" in control.json()


# -- wrap_bad_request_in_500 ----------------------------------------------------------------------


def test_under_wrap_bad_request_in_500_an_invalid_submit_is_a_flat_500_carrying_the_400(
    api: Api, emulator: EmulatorProcess
) -> None:
    unwrapped = api.post("/requests", json=_body(duration="7"))
    emulator.configure(wrap_bad_request_in_500=True, wrapped_error_shape="flat")

    response = api.post("/requests", json=_body(duration="7"))

    assert unwrapped.status_code == 400
    reason = unwrapped.json()["error"]
    assert reason.startswith("payload.duration must be one of")
    assert response.status_code == 500
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {"error": f"backend returned 400: {reason}"}
    assert emulator.state()["submissions"] == 0


def test_the_nested_shape_carries_the_code_and_message(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(wrap_bad_request_in_500=True, wrapped_error_shape="nested")

    response = api.post("/requests", json=_body(cfg_scale=1.5))

    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["message"].startswith("payload.cfg_scale must be between 0.0 and 1.0")


def test_the_mixed_shape_answers_both_shapes(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(wrap_bad_request_in_500=True, wrapped_error_shape="mixed")

    errors = [api.post("/requests", json=_body(duration=5)).json()["error"] for _ in range(30)]

    assert {type(error) for error in errors} == {str, dict}


@pytest.mark.parametrize("data", [b"{not json", b""], ids=["not-json", "empty"])
def test_a_body_that_is_not_a_json_object_is_wrapped_too(api: Api, emulator: EmulatorProcess, data: bytes) -> None:
    emulator.configure(wrap_bad_request_in_500=True, wrapped_error_shape="flat")

    response = api.post("/requests", data=data, headers={"Content-Type": "application/json"})

    assert response.status_code == 500
    assert response.json()["error"].startswith("backend returned 400: ")


def test_wrapping_leaves_unknown_models_valid_submits_and_other_endpoints_alone(
    api: Api, emulator: EmulatorProcess
) -> None:
    emulator.configure(wrap_bad_request_in_500=True, queue_seconds=30)

    assert api.post("/requests", json={"model": "No-Such-Model"}).status_code == 404
    assert api.post("/requests", json=DOCUMENTED_EXAMPLE_BODY).status_code == 200
    assert api.get("/requests/unknown").status_code == 404
    assert api.get("/requests", params={"model_id": MODEL_ID}).json()["total"] == 1


def test_a_wrapped_500_follows_the_error_style(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(wrap_bad_request_in_500=True, wrapped_error_shape="flat", error_style="detail")

    body = api.post("/requests", json=_body(aspect_ratio="4:3")).json()

    assert set(body) == {"detail"}
    assert body["detail"].startswith("backend returned 400: payload.aspect_ratio")


# -- the run-time config ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"error_style": "shouting"}, "error_style must be one of error, message, detail, mixed"),
        ({"error_style": None}, "error_style must be one of"),
        ({"wrap_bad_request_in_500": "yes"}, "wrap_bad_request_in_500 must be true or false"),
        ({"wrap_bad_request_in_500": 1}, "wrap_bad_request_in_500 must be true or false"),
        ({"wrapped_error_shape": "round"}, "wrapped_error_shape must be one of flat, nested, mixed"),
    ],
)
def test_the_control_endpoint_refuses_invalid_error_options_with_a_clear_message(
    emulator: EmulatorProcess, change: dict[str, Any], words: str
) -> None:
    response = requests.post(f"{emulator.root_url}/_emulator/config", json=change, timeout=10)

    assert response.status_code == 400
    assert words in response.json()["error"]


def test_the_error_options_default_to_the_documented_behaviour_and_reset_restores_them(
    emulator: EmulatorProcess,
) -> None:
    config = emulator.configure(error_style="mixed", wrap_bad_request_in_500=True, wrapped_error_shape="nested")
    assert (config["error_style"], config["wrap_bad_request_in_500"], config["wrapped_error_shape"]) == (
        "mixed",
        True,
        "nested",
    )

    emulator.reset()

    config = emulator.state()["config"]
    assert config["error_style"] == "error"
    assert config["wrap_bad_request_in_500"] is False
    assert config["wrapped_error_shape"] == "mixed"
