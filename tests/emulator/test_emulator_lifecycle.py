"""Request lifecycle: queued -> processing -> final, fates, live outcome style, counters."""

from __future__ import annotations

import time

import requests

from gmi_emulator.testing import EmulatorClient as Api
from gmi_emulator.testing import EmulatorProcess


def test_a_request_goes_queued_then_processing_then_success_with_an_outcome_only_at_the_end(
    api: Api, emulator: EmulatorProcess
) -> None:
    emulator.configure(queue_seconds=0.6, processing_seconds=1.0)
    request_id = api.submit(prompt="a paper boat on a calm lake", aspect_ratio="1:1")

    seen = api.history(request_id)

    assert [s["status"] for s in seen] == ["queued", "processing", "success"]
    assert all("outcome" not in s for s in seen[:-1])
    assert seen[0]["qworker_id"] == ""
    assert seen[1]["qworker_id"].startswith("emulator-worker-")
    assert seen[0]["updated_at"] <= seen[1]["updated_at"] <= seen[2]["updated_at"]
    outcome = seen[-1]["outcome"]
    assert set(outcome) == {"video_url", "thumbnail_image_url"}
    assert outcome["video_url"] == f"{emulator.root_url}/media/{request_id}.mp4"
    assert outcome["thumbnail_image_url"] == f"{emulator.root_url}/media/{request_id}.jpg"
    assert "error" not in seen[-1]


def test_a_request_stays_queued_for_the_queue_time(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30)
    request_id = api.submit(prompt="waiting")

    time.sleep(0.5)

    assert api.status(request_id)["status"] == "queued"
    assert emulator.state()["requests"] == {request_id: "queued"}


def test_timings_are_fixed_when_a_request_is_submitted(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(queue_seconds=30)
    request_id = api.submit(prompt="patient")
    emulator.configure(queue_seconds=0)

    assert api.status(request_id)["status"] == "queued"


def test_a_failed_request_says_why_and_has_no_outcome(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(fail_rate=1.0, processing_seconds=0.2)
    request_id = api.submit(prompt="doomed")

    final = api.wait_until(request_id)

    assert final["status"] == "failed"
    assert isinstance(final["error"], str) and len(final["error"]) > 10
    assert "outcome" not in final


def test_a_cancelled_request_says_it_was_cancelled(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(cancel_rate=1.0, processing_seconds=0.2)
    request_id = api.submit(prompt="never mind")

    final = api.wait_until(request_id)

    assert final["status"] == "cancelled"
    assert final["error"] == "Request was cancelled"
    assert "outcome" not in final


def test_a_stuck_request_stays_processing_forever(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(stuck_rate=1.0, queue_seconds=0, processing_seconds=0.2)
    request_id = api.submit(prompt="limbo")

    time.sleep(1.2)

    data = api.status(request_id)
    assert data["status"] == "processing"
    assert "outcome" not in data and "error" not in data


def test_a_fate_is_drawn_when_the_request_is_submitted(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(fail_rate=1.0, processing_seconds=0.3)
    request_id = api.submit(prompt="decided early")
    emulator.configure(fail_rate=0.0)

    assert api.wait_until(request_id)["status"] == "failed"


def test_fates_are_shared_out_by_the_configured_rates(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(fail_rate=0.5, cancel_rate=0.5, queue_seconds=0, processing_seconds=0)
    ids = [api.submit(prompt=f"coin {i}") for i in range(40)]

    statuses = {api.wait_until(i)["status"] for i in ids}

    assert statuses == {"failed", "cancelled"}


def test_the_live_outcome_style_reports_dispatched_and_media_urls(api: Api, emulator: EmulatorProcess) -> None:
    emulator.configure(outcome_style="live", queue_seconds=0.3, processing_seconds=1.0)
    request_id = api.submit(prompt="a lighthouse in a storm", aspect_ratio="1:1")

    seen = api.history(request_id)

    assert [s["status"] for s in seen] == ["queued", "dispatched", "success"]
    outcome = seen[-1]["outcome"]
    assert set(outcome) == {"media_urls", "thumbnail_image_url"}
    assert outcome["media_urls"] == [{"url": f"{emulator.root_url}/media/{request_id}.mp4"}]
    video = requests.get(outcome["media_urls"][0]["url"], timeout=10)
    assert video.status_code == 200
    assert video.headers["Content-Type"] == "video/mp4"


def test_state_counts_submissions_by_prompt_and_polls_by_request(api: Api, emulator: EmulatorProcess) -> None:
    first = api.submit(prompt="counted")
    api.submit(prompt="counted")
    api.submit(prompt="other")
    for _ in range(3):
        api.status(first)

    state = emulator.state()

    assert state["submissions"] == 3
    assert state["submissions_by_prompt"] == {"counted": 2, "other": 1}
    assert state["polls"] == {first: 3}
    assert set(state["requests"].values()) <= {"queued", "processing"}
    assert len(state["requests"]) == 3


def test_reset_forgets_jobs_and_counters_and_restores_the_start_up_config(api: Api, emulator: EmulatorProcess) -> None:
    start_up = emulator.state()["config"]
    request_id = api.submit(prompt="forget me")
    emulator.configure(fail_rate=0.3, latency=0.1, outcome_style="live")

    emulator.reset()

    state = emulator.state()
    assert state["config"] == start_up
    assert state["submissions"] == 0 and state["polls"] == {} and state["requests"] == {}
    assert api.get(f"/requests/{request_id}").status_code == 404


def test_the_control_endpoint_rejects_unknown_and_invalid_config(emulator: EmulatorProcess) -> None:
    url = f"{emulator.root_url}/_emulator/config"

    assert requests.post(url, json={"colour": "blue"}, timeout=10).status_code == 400
    assert requests.post(url, json={"fail_rate": 2}, timeout=10).status_code == 400
    assert requests.post(url, json={"error_rate": {"nope": 1}}, timeout=10).status_code == 400
    assert requests.post(url, json={"outcome_style": "weird"}, timeout=10).status_code == 400
    assert requests.post(url, json={"fail_rate": 0.7, "cancel_rate": 0.7}, timeout=10).status_code == 400
    assert requests.post(url, json={"error_rate": {"cancel_request": 2}}, timeout=10).status_code == 400


def test_the_control_endpoint_returns_the_new_config(emulator: EmulatorProcess) -> None:
    config = emulator.configure(processing_seconds=9, error_rate={"submit": 0.25}, rate_limit=5)

    assert config["processing_seconds"] == 9
    assert config["error_rate"] == {
        "submit": 0.25,
        "get_request": 0.0,
        "list_requests": 0.0,
        "get_model": 0.0,
        "list_models": 0.0,
        "cancel_request": 0.0,
    }
    assert config["rate_limit"] == 5
    assert emulator.state()["config"] == config
