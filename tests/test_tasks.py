"""The tasks, run in this process against the emulator over real HTTP.

Follow-up tasks they schedule go to the test Redis; here each step is run by hand, with
the poll token the previous step armed, so every transition is observed.
"""

from __future__ import annotations

import logging
import shutil
from datetime import timedelta

import av
import pytest
from django.utils import timezone

from generations.gmi import GMIClient
from generations.models import Generation
from generations.tasks import (
    next_poll_interval,
    poll_generation,
    recover_stalled_generations,
    store_outcome,
    submit_generation,
)
from tests import factories
from tests.conftest import submissions, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_generation(django_user_model):
    user = django_user_model.objects.create_user("ada")

    def make(prompt: str = "A red kite over green hills", **fields) -> Generation:
        return factories.make_generation(user, prompt=prompt, **fields)

    return make


def poll_until_final(generation: Generation, timeout: float = 60) -> Generation:
    def step():
        generation.refresh_from_db()
        if generation.is_final:
            return generation
        if generation.poll_token:
            poll_generation(generation.pk, generation.poll_token)
        return None

    return wait_for(step, timeout=timeout, message=f"generation {generation.pk} to finish")


def test_submitting_records_the_request_id_and_arms_a_poll(studio_api, make_generation):
    generation = make_generation()
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    assert generation.request_id
    assert generation.poll_token and generation.next_poll_at
    assert submissions(studio_api, generation.prompt) == 1


def test_a_second_delivery_of_the_submit_task_sends_nothing(studio_api, make_generation):
    generation = make_generation(prompt="delivered twice")
    submit_generation(generation.pk)
    submit_generation(generation.pk)
    assert submissions(studio_api, "delivered twice") == 1


def test_a_delivery_while_another_worker_holds_the_claim_sends_nothing(studio_api, make_generation):
    generation = make_generation(prompt="claimed elsewhere")
    assert Generation.objects.claim_for_submit(generation.pk)
    submit_generation(generation.pk)
    assert submissions(studio_api, "claimed elsewhere") == 0
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUBMITTING and generation.request_id is None


def test_a_retry_after_a_worker_died_adopts_the_request_it_had_sent(studio_api, make_generation):
    generation = make_generation(prompt="sent, then the worker died")
    claimed = Generation.objects.claim_for_submit(generation.pk)
    # The dead worker's request reached the service; its answer never reached the database.
    sent = GMIClient.from_settings().submit(claimed.parameters)
    Generation.objects.filter(pk=generation.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.request_id == sent.request_id
    assert submissions(studio_api, "sent, then the worker died") == 1


def test_adoption_never_takes_a_request_another_generation_owns(studio_api, make_generation):
    first = make_generation(prompt="twin prompt")
    submit_generation(first.pk)
    second = make_generation(prompt="twin prompt")
    Generation.objects.claim_for_submit(second.pk)
    Generation.objects.filter(pk=second.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    submit_generation(second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.request_id and second.request_id != first.request_id
    assert submissions(studio_api, "twin prompt") == 2


def test_a_retry_when_nothing_was_sent_sends(studio_api, make_generation):
    generation = make_generation(prompt="died before sending")
    Generation.objects.claim_for_submit(generation.pk)
    Generation.objects.filter(pk=generation.pk).update(claim_expires_at=timezone.now() - timedelta(seconds=1))
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.request_id
    assert submissions(studio_api, "died before sending") == 1


def test_a_server_error_on_submit_is_retried_without_a_second_submission(studio_api, make_generation):
    generation = make_generation(prompt="flaky service")
    studio_api.configure(error_rate={"submit": 1.0})
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUBMITTING
    assert generation.request_id is None
    assert generation.claim_expires_at <= timezone.now()  # the retry may claim at once
    studio_api.configure(error_rate=0.0)
    submit_generation(generation.pk)  # what the scheduled retry does
    generation.refresh_from_db()
    assert generation.request_id
    assert submissions(studio_api, "flaky service") == 1


def test_submitting_gives_up_after_the_last_attempt_with_a_reason(studio_api, make_generation, settings):
    settings.GENERATION_MAX_SUBMIT_ATTEMPTS = 2
    generation = make_generation(prompt="always failing")
    studio_api.configure(error_rate={"submit": 1.0, "list_requests": 0.0})
    submit_generation(generation.pk)
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "could not be reached" in generation.failure_reason
    assert "Gave up after 2 attempts" in generation.failure_reason


def test_a_rate_limited_submit_waits_and_keeps_the_generation(studio_api, make_generation):
    generation = make_generation(prompt="too many requests")
    studio_api.configure(rate_limit=1, rate_window=30)
    GMIClient.from_settings().list_models()  # the organisation's last request this window
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUBMITTING
    assert generation.failure_reason == ""
    assert submissions(studio_api, "too many requests") == 0


def test_a_rejected_request_fails_with_the_services_message(studio_api, make_generation):
    generation = make_generation(model_id="Not-A-Model")
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.failure_reason.startswith("The video service rejected the request:")
    assert "model" in generation.failure_reason


def test_parameters_that_break_the_rules_fail_without_an_api_call(studio_api, make_generation):
    generation = make_generation(prompt="x" * 2501)  # e.g. a row written by other code than the form
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "2,501 characters" in generation.failure_reason
    assert studio_api.state()["submissions"] == 0


def test_a_wrong_key_fails_with_words_and_without_the_key(studio_api, make_generation, settings):
    settings.GMI_API_KEY = "wrong-secret-key"
    generation = make_generation()
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "refused the studio's API key" in generation.failure_reason
    assert "wrong-secret-key" not in generation.failure_reason


def test_polling_follows_the_request_and_stores_the_files(studio_api, make_generation, settings):
    generation = make_generation(prompt="A lighthouse at night", aspect_ratio="9:16")
    submit_generation(generation.pk)
    seen = set()

    def step():
        generation.refresh_from_db()
        seen.add(generation.status)
        if generation.is_final:
            return True
        poll_generation(generation.pk, generation.poll_token)
        return False

    wait_for(step, timeout=60, message="success")
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    assert Generation.Status.PROCESSING in seen
    assert generation.remote_created_at and generation.processing_at and generation.finished_at
    assert generation.video_url and generation.thumbnail_url
    with av.open(generation.video.path) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 1280)
    assert generation.thumbnail.read(3) == b"\xff\xd8\xff"
    assert not list((settings.MEDIA_ROOT / "tmp").iterdir())  # nothing left half-downloaded


@pytest.mark.parametrize(
    ("fault", "status"), [("fail_rate", Generation.Status.FAILED), ("cancel_rate", Generation.Status.CANCELLED)]
)
def test_a_remote_failure_or_cancellation_ends_with_its_reason(studio_api, make_generation, fault, status):
    studio_api.configure(**{fault: 1.0})
    generation = make_generation()
    submit_generation(generation.pk)
    generation = poll_until_final(generation)
    assert generation.status == status
    assert generation.failure_reason
    assert not generation.video


def test_files_of_a_generation_that_ended_meanwhile_are_not_kept(studio_api, make_generation, media_root):
    generation = make_generation(prompt="deleted while downloading")
    submit_generation(generation.pk)
    generation.refresh_from_db()
    client = GMIClient.from_settings()
    remote = wait_for(lambda: (r := client.get_request(generation.request_id)).outcome and r, message="the outcome")
    generation.fail("The person deleted it")  # what a deletion or the deadline does meanwhile
    folder = media_root / "generations" / str(generation.pk)
    shutil.rmtree(folder, ignore_errors=True)  # ids repeat across rolled-back tests; so might their files
    store_outcome(generation, remote.outcome)
    assert not folder.exists() or not any(folder.iterdir())


def test_a_poll_error_keeps_polling(studio_api, make_generation):
    generation = make_generation()
    submit_generation(generation.pk)
    generation.refresh_from_db()
    studio_api.configure(error_rate={"get_request": 1.0})
    old_token = generation.poll_token
    poll_generation(generation.pk, old_token)
    generation.refresh_from_db()
    assert generation.is_in_progress
    assert generation.poll_token and generation.poll_token != old_token


def test_a_stale_poll_token_does_nothing(studio_api, make_generation):
    generation = make_generation(prompt="polled once")
    submit_generation(generation.pk)
    poll_generation(generation.pk, "not-the-token")
    request_id = Generation.objects.get(pk=generation.pk).request_id
    assert studio_api.state()["polls"].get(request_id, 0) == 0


def test_a_generation_past_its_deadline_stops_being_polled(studio_api, make_generation, settings):
    studio_api.configure(stuck_rate=1.0)
    generation = make_generation()
    submit_generation(generation.pk)
    Generation.objects.filter(pk=generation.pk).update(created_at=timezone.now() - timedelta(hours=2))
    generation.refresh_from_db()
    poll_generation(generation.pk, generation.poll_token)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "was not ready within" in generation.failure_reason


def test_the_poll_interval_grows_for_long_jobs_and_is_capped(make_generation, settings):
    settings.GENERATION_POLL_INTERVAL = 2
    settings.GENERATION_POLL_MAX_INTERVAL = 30
    generation = make_generation()
    assert next_poll_interval(generation) == 2
    generation.created_at = timezone.now() - timedelta(minutes=2)
    assert 11 < next_poll_interval(generation) < 13
    generation.created_at = timezone.now() - timedelta(hours=1)
    assert next_poll_interval(generation) == 30


def test_recovery_finds_lost_work_and_ends_overdue_generations(studio_api, make_generation, settings):
    lost_submit = make_generation(prompt="lost submit")
    lost_at = timezone.now() - timedelta(seconds=settings.GENERATION_SUBMIT_LEASE + 10)
    Generation.objects.filter(pk=lost_submit.pk).update(created_at=lost_at)
    overdue = make_generation(prompt="overdue")
    Generation.objects.filter(pk=overdue.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.GENERATION_DEADLINE + 5)
    )
    result = recover_stalled_generations()
    assert result["expired"] == 1
    assert result["submits"] == 1
    overdue.refresh_from_db()
    assert overdue.status == Generation.Status.FAILED


def test_the_api_key_never_reaches_the_logs(studio_api, make_generation, caplog):
    caplog.set_level(logging.DEBUG)
    generation = make_generation()
    submit_generation(generation.pk)
    poll_until_final(generation)
    assert studio_api.api_key not in caplog.text
    assert "GMI POST /requests -> 200" in caplog.text
