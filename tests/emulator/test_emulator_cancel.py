"""Cancelling: DELETE /requests/{id} cancels a queued or processing request, and stops its render.

A request that is already final answers 409 Conflict and is left as it was; an unknown id is 404.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gmi_emulator.testing import EmulatorClient as Api
from gmi_emulator.testing import EmulatorProcess

BY_THE_CLIENT = "Request was cancelled by the client"


def _once_the_render_ended(emulator: EmulatorProcess, request_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The emulator's state once the request's render is no longer pending or running."""
    deadline = time.monotonic() + timeout
    while (state := emulator.state())["renders"][request_id] in ("pending", "running"):
        assert time.monotonic() < deadline, "the render did not end"
        time.sleep(0.02)
    return state


def test_deleting_a_queued_request_cancels_it_and_answers_the_request(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30)
    request_id = api.submit(prompt="changed my mind")

    response = api.delete(f"/requests/{request_id}")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    data = response.json()
    assert data["request_id"] == request_id
    assert data["status"] == "cancelled"
    assert data["error"] == BY_THE_CLIENT
    assert data["payload"]["prompt"] == "changed my mind"
    assert data["qworker_id"] == ""  # it never left the queue
    assert "outcome" not in data
    later = api.status(request_id)
    assert later["status"] == "cancelled" and later["error"] == BY_THE_CLIENT
    assert later["updated_at"] == data["updated_at"]
    assert emulator.state()["requests"] == {request_id: "cancelled"}


def test_deleting_a_processing_request_cancels_it(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=0, processing_seconds=30)
    request_id = api.submit(prompt="half done")
    api.wait_until(request_id, ("processing",))

    cancelled = api.cancel(request_id)

    assert cancelled["status"] == "cancelled"
    assert cancelled["qworker_id"].startswith("emulator-worker-")
    assert api.status(request_id)["status"] == "cancelled"


def test_in_the_live_outcome_style_a_dispatched_request_can_be_cancelled(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(outcome_style="live", queue_seconds=0, processing_seconds=30)
    request_id = api.submit(prompt="dispatched")
    api.wait_until(request_id, ("dispatched",))

    assert api.cancel(request_id)["status"] == "cancelled"


def test_a_cancelled_request_stays_cancelled_after_its_time_is_up(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=0, processing_seconds=0.8)
    request_id = api.submit(prompt="would have succeeded", aspect_ratio="1:1")
    api.cancel(request_id)

    time.sleep(1.2)

    final = api.status(request_id)
    assert final["status"] == "cancelled"
    assert "outcome" not in final
    state = _once_the_render_ended(emulator, request_id)
    assert state["requests"][request_id] == "cancelled"
    assert state["renders"][request_id] == "stopped"  # never "done"
    assert int(state["finished_at"][request_id]) == final["updated_at"]


@pytest.mark.parametrize("fate", ["fail_rate", "stuck_rate", "cancel_rate"])
def test_a_request_of_any_fate_can_be_cancelled_before_it_is_final(
    api: Api, emulator: EmulatorProcess, fate: str
) -> None:
    emulator.configure(**{fate: 1.0}, queue_seconds=0, processing_seconds=30)
    request_id = api.submit(prompt=f"{fate} but cancelled first")

    assert api.cancel(request_id)["error"] == BY_THE_CLIENT
    assert api.status(request_id)["status"] == "cancelled"


@pytest.mark.parametrize(("fate", "final_status"), [("fail_rate", "failed"), ("cancel_rate", "cancelled")])
def test_cancelling_a_request_that_already_ended_is_409_and_changes_nothing(
    api: Api, emulator: EmulatorProcess, fate: str, final_status: str
) -> None:
    emulator.configure(**{fate: 1.0}, queue_seconds=0, processing_seconds=0)
    request_id = api.submit(prompt="too late")
    before = api.wait_until(request_id)

    response = api.delete(f"/requests/{request_id}")

    assert response.status_code == 409
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"] and final_status in body["error"]
    assert api.status(request_id) == before


def test_cancelling_a_request_that_succeeded_is_409_and_its_video_stays(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=0, processing_seconds=0)
    request_id = api.submit(prompt="already done", aspect_ratio="1:1")
    before = api.wait_until(request_id)
    assert before["status"] == "success"

    response = api.delete(f"/requests/{request_id}")

    assert response.status_code == 409
    assert "success" in response.json()["error"]
    assert api.status(request_id) == before
    assert api.download(before["outcome"]["video_url"]).status_code == 200


def test_cancelling_twice_is_409_the_second_time(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30)
    request_id = api.submit(prompt="twice")
    first = api.cancel(request_id)

    second = api.delete(f"/requests/{request_id}")

    assert second.status_code == 409
    assert list(second.json()) == ["error"]
    assert api.status(request_id)["updated_at"] == first["updated_at"]


def test_cancelling_an_unknown_request_is_404_json(api: Api, emulator: EmulatorProcess) -> None:
    response = api.delete(f"/requests/{uuid.uuid4()}")

    assert response.status_code == 404
    assert list(response.json()) == ["error"]
    assert emulator.state()["calls"] == {"cancel_request": 1}


def test_other_methods_on_a_request_are_405_and_name_get_and_delete(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30)
    request_id = api.submit(prompt="not patched")

    response = api.request("PATCH", f"/requests/{request_id}", json={"status": "cancelled"})

    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, DELETE"
    assert api.status(request_id)["status"] == "queued"


def test_cancel_calls_are_counted_and_can_be_given_an_error_rate(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30, error_rate={"cancel_request": 1.0})
    request_id = api.submit(prompt="hard to cancel")

    statuses = {api.delete(f"/requests/{request_id}").status_code for _ in range(5)}

    assert statuses <= {500, 502, 503}
    assert api.status(request_id)["status"] == "queued"  # an injected error cancels nothing
    state = emulator.state()
    assert state["calls"]["cancel_request"] == 5
    assert state["polls"] == {request_id: 1}  # cancelling is not polling


# -- renders: an emulator of this module's own, with a media directory the tests can watch ---------


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cancel-media")


@pytest.fixture(scope="module")
def render_emulator(media_dir: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(api_key="cancel-key", queue_seconds=0, processing_seconds=0, media_dir=media_dir) as emu:
        yield emu


def _files(media_dir: Path, request_id: str) -> list[str]:
    return sorted(p.name for p in media_dir.glob(f"{request_id}*"))


def _wait_for_render_to_write(media_dir: Path, request_id: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(name.endswith(".part") for name in _files(media_dir, request_id)):
        assert time.monotonic() < deadline, "the render never started writing"
        time.sleep(0.02)


def test_cancelling_stops_a_running_render_and_leaves_no_files(
    render_emulator: EmulatorProcess, media_dir: Path
) -> None:
    client = Api(render_emulator)
    request_id = client.submit(prompt="a long pan over a neon city", duration="10")
    _wait_for_render_to_write(media_dir, request_id)  # processing now means "still rendering"

    assert client.cancel(request_id)["status"] == "cancelled"

    state = _once_the_render_ended(render_emulator, request_id)
    assert state["renders"][request_id] == "stopped"  # not "done": it was cut short
    assert _files(media_dir, request_id) == []
    assert client.status(request_id)["status"] == "cancelled"
    client.close()


def test_reset_stops_renders_that_are_still_running(render_emulator: EmulatorProcess, media_dir: Path) -> None:
    client = Api(render_emulator)
    request_id = client.submit(prompt="forgotten mid-render", duration="10")
    _wait_for_render_to_write(media_dir, request_id)

    render_emulator.reset()

    deadline = time.monotonic() + 20
    while any(name.endswith((".part", ".stop")) for name in _files(media_dir, request_id)):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert _files(media_dir, request_id) == []  # a render that ran on would have left its .mp4 and .jpg
    client.close()
