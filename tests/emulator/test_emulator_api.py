"""The five documented endpoints (and cancelling): shapes, auth, validation and errors."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
import requests

from gmi_emulator import MODEL_ID as MODEL
from gmi_emulator.testing import DOCUMENTED_EXAMPLE_BODY as DOC_EXAMPLE_BODY
from gmi_emulator.testing import EmulatorClient as Api
from gmi_emulator.testing import EmulatorProcess

FULL_SHAPE_KEYS = {
    "request_id",
    "org_id",
    "model",
    "status",
    "is_public",
    "payload",
    "qworker_id",
    "created_at",
    "updated_at",
    "queued_at",
}


def test_submitting_the_documented_example_body_answers_the_documented_shape(api: Api) -> None:
    response = api.post("/requests", json=DOC_EXAMPLE_BODY)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()
    assert set(data) == {"request_id", "model", "status", "created_at", "updated_at", "queued_at"}
    assert uuid.UUID(data["request_id"]).version == 4
    assert data["model"] == MODEL
    assert data["status"] == "queued"
    for key in ("created_at", "updated_at", "queued_at"):
        assert isinstance(data[key], int)
    assert data["created_at"] == data["updated_at"] == data["queued_at"]


def test_checking_a_request_answers_the_full_documented_shape(api: Api) -> None:
    request_id = api.post("/requests", json=DOC_EXAMPLE_BODY).json()["request_id"]

    data = api.status(request_id)

    assert set(data) == FULL_SHAPE_KEYS  # no outcome before success
    assert data["request_id"] == request_id
    assert data["org_id"] == "emulator-org"
    assert data["model"] == MODEL
    assert data["status"] in ("queued", "processing")
    assert data["is_public"] is False
    assert data["payload"] == DOC_EXAMPLE_BODY["payload"]
    assert isinstance(data["qworker_id"], str)
    assert all(isinstance(data[k], int) for k in ("created_at", "updated_at", "queued_at"))


def test_the_payload_is_echoed_with_the_documented_defaults_filled_in(api: Api) -> None:
    request_id = api.submit(prompt="a red fox")

    assert api.status(request_id)["payload"] == {
        "prompt": "a red fox",
        "negative_prompt": "",
        "duration": "5",
        "aspect_ratio": "16:9",
        "cfg_scale": 0.5,
    }


def test_a_submission_without_a_payload_gets_every_default(api: Api) -> None:
    response = api.post("/requests", json={"model": MODEL})

    assert response.status_code == 200
    assert api.status(response.json()["request_id"])["payload"]["duration"] == "5"


def test_unknown_payload_keys_are_ignored(api: Api) -> None:
    request_id = api.submit(prompt="x", seed=42, style="anime")

    assert "seed" not in api.status(request_id)["payload"]


def test_listing_requests_answers_newest_first_with_a_total(api: Api) -> None:
    first = api.submit(prompt="first")
    second = api.submit(prompt="second")

    response = api.get("/requests", params={"model_id": MODEL})

    assert response.status_code == 200
    data = response.json()
    assert data["total"] == 2
    assert [r["request_id"] for r in data["requests"]] == [second, first]
    assert set(data["requests"][0]) >= FULL_SHAPE_KEYS
    assert data["requests"][0]["payload"]["prompt"] == "second"


def test_listing_requests_filters_by_model_id(api: Api) -> None:
    api.submit(prompt="only one")

    assert api.get("/requests", params={"model_id": "other-model"}).json() == {"requests": [], "total": 0}
    assert api.get("/requests").json()["total"] == 1


def test_listing_requests_does_not_count_as_polling(api: Api, emulator: EmulatorProcess) -> None:
    request_id = api.submit(prompt="not polled")
    api.get("/requests")

    assert emulator.state()["polls"].get(request_id, 0) == 0


def test_model_information_describes_the_documented_constraints(api: Api) -> None:
    response = api.get(f"/models/{MODEL}")

    assert response.status_code == 200
    info = response.json()
    assert info["model_id"] == MODEL
    assert info["name"] and info["description"]
    assert info["max_prompt_length"] == 2500
    assert info["durations"] == ["5", "10"]
    assert info["aspect_ratios"] == ["16:9", "9:16", "1:1"]
    assert info["parameters"]["cfg_scale"]["minimum"] == 0.0
    assert info["parameters"]["cfg_scale"]["maximum"] == 1.0
    assert info["parameters"]["duration"]["default"] == "5"


def test_an_unknown_model_is_404_json(api: Api) -> None:
    response = api.get("/models/No-Such-Model")

    assert response.status_code == 404
    assert "error" in response.json()


def test_listing_models_includes_kling_text2video(api: Api) -> None:
    response = api.get("/models")

    assert response.status_code == 200
    ids = response.json()["model_ids"]
    assert ids[0] == MODEL
    assert len(ids) >= 3


ENDPOINTS = [
    ("POST", "/requests"),
    ("GET", "/requests"),
    ("GET", "/requests/550e8400-e29b-41d4-a716-446655440000"),
    ("GET", f"/models/{MODEL}"),
    ("GET", "/models"),
    ("DELETE", "/requests/550e8400-e29b-41d4-a716-446655440000"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic test-key"}, {"Authorization": "Bearer"}],
    ids=["no-key", "wrong-key", "wrong-scheme", "empty-bearer"],
)
def test_every_endpoint_answers_401_json_without_the_right_key(
    emulator: EmulatorProcess, method: str, path: str, headers: dict[str, str]
) -> None:
    response = requests.request(method, emulator.base_url + path, headers=headers, json=DOC_EXAMPLE_BODY, timeout=10)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"]
    assert emulator.state()["submissions"] == 0


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(DOC_EXAMPLE_BODY)
    target = body
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    if value is _MISSING:
        del target[leaf]
    else:
        target[leaf] = value
    return body


_MISSING = object()

INVALID = [
    ("it_rejects_a_missing_model", "model", _MISSING),
    ("it_rejects_a_model_that_is_not_a_string", "model", 123),
    ("it_rejects_a_listed_model_it_does_not_emulate", "model", "Kling-Image2Video-V1.6-Standard"),
    ("it_rejects_a_payload_that_is_a_list", "payload", ["prompt"]),
    ("it_rejects_a_null_payload", "payload", None),
    ("it_rejects_a_prompt_that_is_not_a_string", "payload.prompt", 123),
    ("it_rejects_a_prompt_of_2501_characters", "payload.prompt", "x" * 2501),
    ("it_rejects_a_negative_prompt_of_2501_characters", "payload.negative_prompt", "y" * 2501),
    ("it_rejects_a_null_negative_prompt", "payload.negative_prompt", None),
    ("it_rejects_a_duration_of_7", "payload.duration", "7"),
    ("it_rejects_a_duration_given_as_a_number", "payload.duration", 5),
    ("it_rejects_an_aspect_ratio_of_4_3", "payload.aspect_ratio", "4:3"),
    ("it_rejects_a_cfg_scale_above_1", "payload.cfg_scale", 1.5),
    ("it_rejects_a_negative_cfg_scale", "payload.cfg_scale", -0.1),
    ("it_rejects_a_cfg_scale_given_as_a_string", "payload.cfg_scale", "0.5"),
    ("it_rejects_a_boolean_cfg_scale", "payload.cfg_scale", True),
]


@pytest.mark.parametrize(("field", "value"), [(f, v) for _, f, v in INVALID], ids=[n for n, _, _ in INVALID])
def test_invalid_submissions_are_400_naming_the_field(
    api: Api, emulator: EmulatorProcess, field: str, value: Any
) -> None:
    response = api.post("/requests", json=_with(field, value))

    assert response.status_code == 400
    data = response.json()
    assert data["field"] == field
    assert field in data["error"]
    assert emulator.state()["submissions"] == 0


def test_it_rejects_a_duration_of_7(api: Api) -> None:
    response = api.post("/requests", json=_with("payload.duration", "7"))

    assert response.status_code == 400
    assert response.json()["field"] == "payload.duration"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("payload.prompt", "p" * 2500),
        ("payload.negative_prompt", "n" * 2500),
        ("payload.duration", "10"),
        ("payload.aspect_ratio", "9:16"),
        ("payload.aspect_ratio", "1:1"),
        ("payload.cfg_scale", 0),
        ("payload.cfg_scale", 1),
        ("payload.cfg_scale", 0.0),
        ("payload.cfg_scale", 1.0),
    ],
)
def test_it_accepts_every_documented_boundary_value(api: Api, field: str, value: Any) -> None:
    response = api.post("/requests", json=_with(field, value))

    assert response.status_code == 200, response.text


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    response = api.post("/requests", data=b"{not json", headers={"Content-Type": "application/json"})

    assert response.status_code == 400
    assert "error" in response.json()


def test_an_empty_body_is_400(api: Api) -> None:
    response = api.post("/requests", data=b"")

    assert response.status_code == 400


def test_an_unknown_request_id_is_404_json(api: Api) -> None:
    response = api.get(f"/requests/{uuid.uuid4()}")

    assert response.status_code == 404
    assert "error" in response.json()


@pytest.mark.parametrize("path", ["/api/v1/apikey/nothing-here", "/api/v2/requests", "/"])
def test_an_unknown_path_is_404_json(emulator: EmulatorProcess, path: str) -> None:
    response = requests.get(emulator.root_url + path, headers=emulator.auth_headers, timeout=10)

    assert response.status_code == 404
    assert "error" in response.json()
