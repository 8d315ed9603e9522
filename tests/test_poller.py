"""The fleet poller, tick by tick, against the emulator over real HTTP.

Each test runs the ticks (and the store a tick hands over) itself, in this process, so
every step and every API call can be counted. No beat runs beside these tests.
"""

from __future__ import annotations

import shutil
import threading
from datetime import timedelta

import av
import pytest
from django.test import override_settings
from django.utils import timezone

from generations import poller
from generations.gmi import GMIClient, Outcome
from generations.models import Generation
from generations.storing import store_files
from generations.tasks import submit_generation
from tests import factories
from tests.conftest import submissions, wait_for
from tests.servers import StubServer
from tests.steps import at_the_same_time, make_due, tick, tick_until_final

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_sent(django_user_model):
    """Generations sent to the emulator, as the submit task leaves them."""
    user = django_user_model.objects.create_user("ada")

    def make(prompt: str = "A red kite over green hills", **fields) -> Generation:
        generation = factories.make_generation(user, prompt=prompt, **fields)
        submit_generation(generation.pk)
        generation.refresh_from_db()
        assert generation.request_id, generation.failure_reason
        return generation

    return make


def calls(api) -> dict[str, int]:
    return api.state()["calls"]


def test_a_tick_with_nothing_due_asks_the_service_nothing(studio_api, make_sent):
    make_sent()  # due only after one refresh interval
    before = calls(studio_api)
    assert poller.refresh_due().claimed == 0
    assert calls(studio_api) == before


def test_a_generation_alone_is_followed_with_its_own_get_to_stored_files(studio_api, make_sent, settings):
    generation = make_sent(prompt="A lighthouse at night", aspect_ratio="9:16")
    seen = set()

    def step():
        tick()
        generation.refresh_from_db()
        seen.add(generation.status)
        return generation.is_final

    wait_for(step, timeout=60, message="success")
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    assert Generation.Status.PROCESSING in seen
    assert generation.remote_created_at and generation.processing_at and generation.finished_at
    assert calls(studio_api).get("list_requests", 0) == 0  # one due generation: a GET, never the list
    assert studio_api.state()["polls"][generation.request_id] == generation.poll_count
    with av.open(generation.video.path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
    assert generation.thumbnail.read(3) == b"\xff\xd8\xff"
    assert not generation.lease_token
    assert not list((settings.MEDIA_ROOT / "tmp").iterdir())  # nothing left half-downloaded


def test_one_list_call_refreshes_every_due_generation(studio_api, make_sent):
    generations = [make_sent(prompt=f"clip {n}") for n in range(5)]
    make_due(*generations)
    before = calls(studio_api)
    report = poller.refresh_due()
    after = calls(studio_api)
    assert report.claimed == 5 and report.calls == 1
    assert after.get("list_requests", 0) - before.get("list_requests", 0) == 1
    assert after.get("get_request", 0) == before.get("get_request", 0)
    for generation in generations:
        generation.refresh_from_db()
        assert generation.poll_count == 1
        assert generation.lease_token == ""
        assert generation.next_poll_at > timezone.now()  # due again an interval later, not sooner


def test_generations_missing_from_a_capped_list_are_asked_about_one_by_one_in_turn(studio_api, make_sent, settings):
    settings.GENERATION_REFRESH_SINGLE_GETS = 2
    generations = [make_sent(prompt=f"capped {n}") for n in range(9)]
    unlisted, listed = generations[:7], generations[7:]
    studio_api.configure(list_limit=2)  # the list shows only the two newest
    make_due(*generations)
    report = poller.refresh_due()
    assert report.claimed == 9 and report.calls == 3  # the list, then two GETs
    polls = studio_api.state()["polls"]
    assert sum(1 for g in unlisted if polls.get(g.request_id)) == 2
    assert not any(polls.get(g.request_id) for g in listed)  # the listed ones need no GET
    assert Generation.objects.due_for_refresh(timezone.now()).count() == 5  # the others: due at once

    for _ in range(3):  # the cap works through them in turn, none left behind
        make_due(*generations)
        poller.refresh_due()
    asked = [studio_api.state()["polls"].get(g.request_id, 0) for g in unlisted]
    assert min(asked) == 1 and max(asked) == 2  # 4 ticks, 2 GETs each, over 7: each once, one of them twice
    done = tick_until_final(*generations)
    assert {g.status for g in done} == {Generation.Status.SUCCESS}


@pytest.mark.django_db(transaction=True)  # the two ticks run in two threads, each with its own connection
def test_two_ticks_at_once_never_refresh_the_same_generation(studio_api, make_sent):
    generations = [make_sent(prompt=f"raced {n}") for n in range(8)]
    make_due(*generations)
    studio_api.configure(latency=0.5)  # the first tick is still asking while the second starts
    reports = at_the_same_time(poller.refresh_due)
    assert sorted(report.claimed for report in reports) == [0, 8]
    assert [Generation.objects.get(pk=g.pk).poll_count for g in generations] == [1] * 8


def test_a_video_the_service_finished_is_stored_however_late_the_studio_looks(studio_api, make_sent):
    generation = make_sent(prompt="finished before the deadline")
    client = GMIClient.from_settings()
    wait_for(lambda: client.get_request(generation.request_id).outcome, message="the service to finish")
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(hours=2))
    make_due(generation)
    [done] = tick_until_final(generation)
    assert done.status == Generation.Status.SUCCESS, done.failure_reason
    assert done.video


def test_past_its_deadline_a_generation_fails_only_once_the_service_says_it_is_unfinished(
    studio_api, make_sent, eager_tasks, django_capture_on_commit_callbacks
):
    studio_api.configure(stuck_rate=1.0)
    generation = make_sent(prompt="never finishes")
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(hours=2))
    studio_api.configure(error_rate={"get_request": 1.0})  # the service cannot be asked
    make_due(generation)
    poller.refresh_due()
    generation.refresh_from_db()
    assert generation.is_in_progress  # not failed unasked
    assert Generation.objects.due_for_refresh(timezone.now()).filter(pk=generation.pk).exists()

    studio_api.configure(error_rate=0.0)
    with django_capture_on_commit_callbacks(execute=True):
        poller.refresh_due()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "was not ready within 2 minutes" in generation.failure_reason
    assert studio_api.state()["requests"][generation.request_id] == "cancelled"  # no longer paid for


@pytest.mark.parametrize(
    ("fault", "status"), [("fail_rate", Generation.Status.FAILED), ("cancel_rate", Generation.Status.CANCELLED)]
)
def test_a_remote_failure_or_cancellation_ends_with_its_reason(studio_api, make_sent, fault, status):
    studio_api.configure(**{fault: 1.0})
    [generation] = tick_until_final(make_sent())
    assert generation.status == status
    assert generation.failure_reason
    assert not generation.video


def test_a_request_the_service_no_longer_knows_fails_with_a_reason(studio_api, make_sent):
    generation = make_sent()
    Generation.objects.filter(pk=generation.pk).update(request_id="no-such-request", next_poll_at=timezone.now())
    poller.refresh_due()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.failure_reason == "The video service no longer knows this request."


def test_a_server_error_leaves_every_generation_due_and_nothing_lost(studio_api, make_sent):
    generations = [make_sent(prompt=f"flaky {n}") for n in range(3)]
    studio_api.configure(error_rate=1.0)
    make_due(*generations)
    report = poller.refresh_due()
    assert report.claimed == 3 and report.answered == 0
    assert Generation.objects.due_for_refresh(timezone.now()).count() == 3
    assert not Generation.objects.exclude(lease_token="").exists()  # the tick let go of them
    studio_api.configure(error_rate=0.0)
    assert {g.status for g in tick_until_final(*generations)} == {Generation.Status.SUCCESS}


def test_a_rate_limit_on_the_list_pauses_the_whole_fleet(studio_api, make_sent):
    generations = [make_sent(prompt=f"limited {n}") for n in range(3)]
    studio_api.configure(rate_limit=1, rate_window=30)
    GMIClient.from_settings().list_models()  # the organisation's last call this window
    make_due(*generations)
    poller.refresh_due()  # the list answers 429, Retry-After about 30 s
    assert poller.fleet_pause_remaining() > 20
    before = calls(studio_api)
    assert poller.refresh_due().paused_for > 20  # the next tick waits, and asks nothing
    late = factories.make_generation(generations[0].created_by, prompt="sent during the pause")
    submit_generation(late.pk)
    assert calls(studio_api) == before
    late.refresh_from_db()
    assert late.status == Generation.Status.PENDING and late.submit_attempts == 0  # waits unclaimed
    assert all(Generation.objects.get(pk=g.pk).is_in_progress for g in generations)
    assert submissions(studio_api, "sent during the pause") == 0


def test_a_failed_store_asks_for_fresh_links_and_then_stores(studio_api, make_sent):
    generation = make_sent(prompt="links that expired")
    client = GMIClient.from_settings()
    wait_for(lambda: client.get_request(generation.request_id).outcome, message="the service to finish")
    make_due(generation)
    poller.refresh_due()
    generation.refresh_from_db()
    token = generation.lease_token
    Generation.objects.filter(pk=generation.pk).update(video_url=f"{studio_api.root_url}/media/expired.mp4")
    assert store_files(generation.pk, token) == "retry"
    generation.refresh_from_db()
    assert generation.is_in_progress and generation.store_attempts == 1
    assert generation.video_url == "" and generation.lease_token == ""
    make_due(generation)
    [done] = tick_until_final(generation)
    assert done.status == Generation.Status.SUCCESS and done.video


def test_a_store_delivered_twice_stores_once(studio_api, make_sent, media_root):
    generation = make_sent(prompt="stored twice")
    client = GMIClient.from_settings()
    wait_for(lambda: client.get_request(generation.request_id).outcome, message="the service to finish")
    make_due(generation)
    poller.refresh_due()
    token = Generation.objects.get(pk=generation.pk).lease_token
    folder = media_root / "generations" / str(generation.pk)
    shutil.rmtree(folder, ignore_errors=True)  # ids repeat across rolled-back tests; so might their files
    assert store_files(generation.pk, token) == "stored"
    assert store_files(generation.pk, token) == "not held"
    assert sorted(path.name for path in folder.iterdir()) == ["thumbnail.jpg", "video.mp4"]


@pytest.mark.django_db(transaction=True)  # the store runs in a thread while the generation ends
def test_files_of_a_generation_that_ended_while_they_downloaded_are_not_kept(
    studio_api, make_sent, media_root, certificate
):
    generation = make_sent(prompt="deleted while downloading")
    make_due(generation)
    [held] = Generation.objects.claim_due(limit=1)
    folder = media_root / "generations" / str(generation.pk)
    shutil.rmtree(folder, ignore_errors=True)
    link = StubServer(tls=certificate[:2])
    link.body, link.hold = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 5000, True
    try:
        with override_settings(GMI_API_BASE_URL=f"{link.root}/api/v1/apikey"):  # the emulator's host may be private
            store_token = held.hold_for_store(held.lease_token, Outcome(f"{link.root}/video.mp4"), {})
            result = []
            store = threading.Thread(target=lambda: result.append(store_files(generation.pk, store_token)))
            store.start()
            wait_for(link.asked.is_set, message="the download to start")
            Generation.objects.get(pk=generation.pk).fail("The person deleted it")  # what happens meanwhile
            link.release.set()
            store.join(30)
    finally:
        link.close()
    assert result == ["not held"]
    assert not folder.exists() or not any(folder.iterdir())
