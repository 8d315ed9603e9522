"""The submit and recovery tasks, run in this process against the emulator over real HTTP.

Follow-up tasks they schedule go to the test Redis; here each step is run by hand, so
every transition is observed. The poller has its own tests (test_poller.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from generations import poller
from generations.gmi import GMIClient
from generations.models import Generation
from generations.tasks import (
    recover_stalled_generations,
    refresh_due_generations,
    store_generation,
    submit_generation,
)
from kling_studio import celery_app
from tests import factories
from tests.conftest import submissions, wait_for
from tests.steps import tick_until_final

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_generation(django_user_model):
    user = django_user_model.objects.create_user("ada")

    def make(prompt: str = "A red kite over green hills", **fields) -> Generation:
        return factories.make_generation(user, prompt=prompt, **fields)

    return make


def test_submitting_records_the_request_id_and_makes_the_generation_due_for_a_refresh(studio_api, make_generation):
    generation = make_generation()
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    assert generation.request_id
    assert generation.next_poll_at and not generation.lease_token
    assert generation.next_poll_at <= timezone.now() + timedelta(seconds=1)  # one refresh interval (0.5 s) away
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


def test_giving_up_adopts_what_an_attempt_whose_answer_was_lost_had_sent(studio_api, make_generation, settings):
    settings.GENERATION_MAX_SUBMIT_ATTEMPTS = 1
    settings.GMI_READ_TIMEOUT = 1.0
    prompt = "sent, but the answer never came"
    generation = make_generation(prompt=prompt)
    studio_api.configure(latency=3.0)  # the submission is recorded; its answer comes too late

    def answer_promptly_once_it_arrived():
        wait_for(lambda: submissions(studio_api, prompt) == 1, timeout=10, message="the submission")
        studio_api.configure(latency=0.0)

    helper = threading.Thread(target=answer_promptly_once_it_arrived)
    helper.start()
    submit_generation(generation.pk)  # times out, and that was the last attempt
    helper.join()
    generation.refresh_from_db()
    assert generation.status in Generation.AT_SERVICE, generation.failure_reason  # adopted, not failed
    assert generation.request_id and submissions(studio_api, prompt) == 1


def test_a_rate_limited_submit_waits_and_keeps_the_generation(studio_api, make_generation):
    generation = make_generation(prompt="too many requests")
    studio_api.configure(rate_limit=1, rate_window=30)
    GMIClient.from_settings().list_models()  # the organisation's last request this window
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUBMITTING
    assert generation.failure_reason == ""
    assert submissions(studio_api, "too many requests") == 0
    assert poller.fleet_pause_remaining() > 20  # every other call of the studio waits too


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


def test_recovery_resends_lost_submissions_and_ends_those_never_sent_in_time(studio_api, make_generation, settings):
    lost_submit = make_generation(prompt="lost submit")
    lost_at = timezone.now() - timedelta(seconds=settings.GENERATION_SUBMIT_LEASE + 10)
    Generation.objects.filter(pk=lost_submit.pk).update(created_at=lost_at)
    overdue = make_generation(prompt="overdue")
    at_service = make_generation(prompt="sent long ago", status=Generation.Status.PROCESSING, request_id="r-old")
    too_old = timezone.now() - timedelta(seconds=settings.GENERATION_DEADLINE + 5)
    Generation.objects.filter(pk__in=[overdue.pk, at_service.pk]).update(created_at=too_old)
    result = recover_stalled_generations()
    assert result == {"expired": 1, "submits": 1, "downloads_removed": 0}
    overdue.refresh_from_db()
    assert overdue.status == Generation.Status.FAILED
    assert "was not ready within" in overdue.failure_reason
    at_service.refresh_from_db()
    assert at_service.is_in_progress  # the tick asks the service before it ends one it was sent to


def test_the_api_key_never_reaches_the_logs(studio_api, make_generation, caplog):
    caplog.set_level(logging.DEBUG)
    generation = make_generation()
    submit_generation(generation.pk)
    tick_until_final(generation)
    assert studio_api.api_key not in caplog.text
    assert "GMI POST /requests -> 200" in caplog.text


def test_submitting_refreshing_and_storing_each_have_their_own_queue_which_a_plain_worker_serves():
    def queue_of(task) -> str:
        return celery_app.amqp.router.route({}, task.name)["queue"].name

    assert queue_of(submit_generation) == "submit"
    assert queue_of(refresh_due_generations) == "refresh"
    assert queue_of(store_generation) == "store"
    assert set(celery_app.amqp.queues) == {"submit", "refresh", "store"}  # what `celery worker` consumes by default


def test_recovery_removes_the_half_downloads_a_killed_worker_left_and_nothing_in_use(settings, media_root):
    downloads = media_root / "tmp"
    downloads.mkdir(exist_ok=True)
    abandoned, in_use = downloads / "tmpabandoned.mp4", downloads / "tmpinuse.mp4"
    abandoned.write_bytes(b"half a video")
    in_use.write_bytes(b"a video on its way")
    long_ago = time.time() - settings.GENERATION_STORE_LEASE - 60
    os.utime(abandoned, (long_ago, long_ago))
    assert recover_stalled_generations()["downloads_removed"] == 1
    assert not abandoned.exists() and in_use.exists()
    in_use.unlink()
