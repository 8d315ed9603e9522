from datetime import timedelta

import pytest
from django.utils import timezone

from generations.gmi import Outcome, RemoteRequest, RemoteStatus
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def generation(django_user_model) -> Generation:
    user = django_user_model.objects.create_user("ada")
    return make_generation(user, prompt="A paper boat on a river", aspect_ratio="9:16")


def test_a_new_generation_waits_to_be_sent(generation):
    assert generation.status == Generation.Status.PENDING
    assert generation.is_in_progress and not generation.is_final
    assert generation.frame_size == (720, 1280)


def test_only_one_worker_can_claim_a_generation_for_sending(generation):
    first = Generation.objects.claim_for_submit(generation.pk)
    second = Generation.objects.claim_for_submit(generation.pk)
    assert first is not None and first.status == Generation.Status.SUBMITTING
    assert first.submit_attempts == 1
    assert second is None


def test_a_claim_whose_lease_ran_out_can_be_taken_again(generation, settings):
    first = Generation.objects.claim_for_submit(generation.pk)
    Generation.objects.filter(pk=generation.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    again = Generation.objects.claim_for_submit(generation.pk)
    assert again is not None
    assert again.submit_attempts == 2
    assert again.claimed_at == first.claimed_at  # the first claim's time is kept, for adoption


def test_a_sent_generation_is_never_claimed_again(generation):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    assert claimed.record_submission(remote(RemoteStatus.QUEUED))
    Generation.objects.filter(pk=generation.pk).update(claim_expires_at=timezone.now() - timedelta(hours=1))
    assert Generation.objects.claim_for_submit(generation.pk) is None


def test_the_request_id_is_recorded_only_once(generation):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    assert claimed.record_submission(remote(RemoteStatus.QUEUED))
    assert not claimed.record_submission(RemoteRequest(request_id="req-2", status=RemoteStatus.QUEUED))
    generation.refresh_from_db()
    assert generation.request_id == "req-1"
    assert generation.status == Generation.Status.QUEUED
    assert generation.submitted_at is not None


def sent(generation: Generation, request_id: str = "req-1") -> Generation:
    claimed = Generation.objects.claim_for_submit(generation.pk)
    assert claimed.record_submission(remote(RemoteStatus.QUEUED, request_id=request_id))
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    return Generation.objects.get(pk=generation.pk)


def remote(status: RemoteStatus, request_id: str = "req-1", **fields) -> RemoteRequest:
    return RemoteRequest(request_id=request_id, status=status, **fields)


def test_a_sent_generation_is_due_one_refresh_interval_later(generation, settings):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    claimed.record_submission(remote(RemoteStatus.QUEUED))
    now = timezone.now()
    assert not Generation.objects.due_for_refresh(now).exists()
    later = now + timedelta(seconds=settings.GENERATION_REFRESH_INTERVAL + 0.01)
    assert list(Generation.objects.due_for_refresh(later)) == [generation]


def test_a_due_generation_is_held_by_one_tick_only(generation):
    sent(generation)
    [held] = Generation.objects.claim_due(limit=10)
    assert held.pk == generation.pk and held.lease_token
    assert held.next_poll_at > timezone.now()  # held until the lease runs out
    assert Generation.objects.claim_due(limit=10) == []


def test_a_tick_whose_hold_ran_out_can_no_longer_write(generation):
    sent(generation)
    [first] = Generation.objects.claim_due(limit=10)
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now() - timedelta(seconds=1))
    [second] = Generation.objects.claim_due(limit=10)
    assert second.lease_token != first.lease_token
    assert not first.refreshed(first.lease_token, timezone.now(), {"status": Generation.Status.PROCESSING})
    assert second.refreshed(second.lease_token, timezone.now(), {"status": Generation.Status.PROCESSING})


def test_claims_take_those_asked_about_longest_ago_first_and_no_more_than_asked(django_user_model):
    user = django_user_model.objects.create_user("grace")
    generations = [sent(make_generation(user), request_id=f"req-{n}") for n in range(4)]
    for age, generation in zip((5, 30, 10), generations, strict=False):
        Generation.objects.filter(pk=generation.pk).update(refreshed_at=timezone.now() - timedelta(seconds=age))
    held = Generation.objects.claim_due(limit=3)
    assert [g.pk for g in held] == [generations[3].pk, generations[1].pk, generations[2].pk]  # never asked: first


def test_a_finished_generation_is_never_due(generation):
    sent(generation).fail("nope")
    assert Generation.objects.claim_due(limit=10) == []


def test_processing_is_recorded_once_with_its_time(generation):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    claimed.record_submission(remote(RemoteStatus.QUEUED))
    claimed.apply_remote(remote(RemoteStatus.PROCESSING))
    first_seen = claimed.processing_at
    claimed.apply_remote(remote(RemoteStatus.PROCESSING))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PROCESSING
    assert generation.processing_at == first_seen


def test_success_waits_for_the_files_and_only_their_holder_may_mark_it(generation):
    sent(generation)
    [held] = Generation.objects.claim_due(limit=1)
    finished = remote(RemoteStatus.SUCCESS, outcome=Outcome("http://x/v.mp4", "http://x/t.jpg"))
    store_token = held.hold_for_store(held.lease_token, finished.outcome, held.remote_changes(finished))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PROCESSING
    assert generation.video_url == "http://x/v.mp4"
    assert not held.succeed("another-token", "generations/1/video.mp4", "generations/1/thumbnail.jpg")
    assert held.succeed(store_token, "generations/1/video.mp4", "generations/1/thumbnail.jpg")
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCESS and generation.finished_at and not generation.lease_token


def test_a_remote_failure_keeps_its_reason(generation):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    claimed.record_submission(remote(RemoteStatus.QUEUED))
    claimed.apply_remote(remote(RemoteStatus.FAILED, error="Content moderation rejected the prompt"))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.failure_reason == "Content moderation rejected the prompt"


def test_a_remote_failure_without_a_reason_still_says_something(generation):
    claimed = Generation.objects.claim_for_submit(generation.pk)
    claimed.record_submission(remote(RemoteStatus.QUEUED))
    claimed.apply_remote(remote(RemoteStatus.CANCELLED))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert "cancelled" in generation.failure_reason


def test_a_final_generation_does_not_change_again(generation):
    assert generation.fail("first reason")
    assert not generation.fail("second reason")
    assert not generation.succeed("", "a.mp4", "a.jpg")
    generation.refresh_from_db()
    assert generation.failure_reason == "first reason"


def test_it_recognises_the_request_it_would_have_sent(generation):
    payload = generation.parameters.as_payload()
    assert generation.matches(RemoteRequest("r", RemoteStatus.QUEUED, payload=payload))
    assert generation.matches(RemoteRequest("r", RemoteStatus.QUEUED, payload={**payload, "cfg_scale": 0.5000000001}))
    assert not generation.matches(RemoteRequest("r", RemoteStatus.QUEUED, payload={**payload, "prompt": "other"}))
    assert not generation.matches(RemoteRequest("r", RemoteStatus.QUEUED, model="other", payload=payload))


def test_stalled_work_is_found_for_recovery(generation, settings):
    now = timezone.now()
    assert not Generation.objects.stalled_submissions(now).exists()
    later = now + timedelta(seconds=settings.GENERATION_SUBMIT_LEASE + 1)
    assert list(Generation.objects.stalled_submissions(later)) == [generation]
    too_late = now + timedelta(seconds=settings.GENERATION_DEADLINE + 1)
    assert list(Generation.objects.past_deadline(too_late)) == [generation]
    sent(generation)
    assert not Generation.objects.past_deadline(too_late).exists()  # sent: only the tick may end it
