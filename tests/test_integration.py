"""The whole back end for real: a Redis, Celery worker and beat processes, and the emulator.

Generations are created as the web does (a row, then the submit task on the queue) and
everything after that is the workers' doing: beat's tick refreshes, the store queue stores.
"""

from __future__ import annotations

import time

import av
import pytest
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation
from generations.tasks import recover_stalled_generations, refresh_due_generations, submit_generation
from tests.conftest import submissions, wait_for
from tests.factories import make_generation

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def start(user, **fields) -> Generation:
    generation = make_generation(user, **fields)
    submit_generation.delay(generation.pk)
    return generation


def finished(generation: Generation, timeout: float = 90) -> Generation:
    def final():
        generation.refresh_from_db()
        return generation.is_final

    wait_for(final, timeout=timeout, message=f"generation {generation.pk} ({generation.prompt!r}) to finish")
    return generation


def test_every_shape_and_length_reaches_success_with_stored_files(studio_api, celery_worker, beat, ada):
    generations = [
        start(ada, prompt=f"A {ratio} {duration} second clip of a comet", aspect_ratio=ratio, duration=duration)
        for ratio in ("16:9", "9:16", "1:1")
        for duration in ("5", "10")
    ]
    expected_sizes = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}
    for generation in generations:
        finished(generation, timeout=180)
        assert generation.status == Generation.Status.SUCCESS, (generation.failure_reason, celery_worker.output())
        with av.open(generation.video.path) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "h264"
            assert (stream.codec_context.width, stream.codec_context.height) == expected_sizes[generation.aspect_ratio]
            seconds = float(stream.frames / stream.average_rate)
            assert seconds == pytest.approx(int(generation.duration), abs=0.1)
        assert generation.thumbnail.read(3) == b"\xff\xd8\xff"
        assert submissions(studio_api, generation.prompt) == 1


def test_an_emulated_failure_ends_failed_and_the_card_says_why(studio_api, beat, ada, client):
    studio_api.configure(fail_rate=1.0)
    generation = finished(start(ada, prompt="This one is doomed"))
    assert generation.status == Generation.Status.FAILED
    assert generation.failure_reason
    client.force_login(ada)
    card = client.get(reverse("generations:card", args=[generation.pk]), HTTP_HX_REQUEST="true")
    assert generation.failure_reason in card.content.decode()


def test_a_submit_task_delivered_twice_submits_once(studio_api, beat, ada):
    generation = make_generation(ada, prompt="Delivered twice by the broker")
    submit_generation.delay(generation.pk)
    submit_generation.delay(generation.pk)
    finished(generation)
    assert generation.status == Generation.Status.SUCCESS
    submit_generation.delay(generation.pk)  # a very late duplicate
    time.sleep(1)
    assert submissions(studio_api, "Delivered twice by the broker") == 1
    assert studio_api.state()["requests"][generation.request_id] == "success"


def test_a_worker_killed_mid_submit_leads_to_exactly_one_submission(studio_api, worker_factory, beat, ada):
    prompt = "The worker dies while this is being sent"
    doomed = worker_factory(queue="doomed")
    studio_api.configure(latency=30.0)  # the request is recorded, then the answer is held back
    generation = make_generation(ada, prompt=prompt)
    submit_generation.apply_async((generation.pk,), queue="doomed")
    wait_for(lambda: submissions(studio_api, prompt) == 1, timeout=30, message="the submission to arrive")
    doomed.kill()
    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUBMITTING
    assert generation.request_id is None

    studio_api.configure(latency=0.0)
    wait_for(
        lambda: Generation.objects.stalled_submissions(timezone.now()).filter(pk=generation.pk).exists(),
        message="the dead worker's claim to run out",
    )
    recover_stalled_generations.delay()  # what beat does every half minute
    finished(generation)
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    assert generation.submit_attempts == 2
    assert submissions(studio_api, prompt) == 1


def test_a_worker_killed_mid_tick_loses_nothing(studio_api, worker_factory, celery_worker, ada, settings):
    prompt = "The worker dies while refreshing this"
    generation = start(ada, prompt=prompt)
    wait_for(lambda: Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED).exists())
    doomed = worker_factory(queue="doomed")
    studio_api.configure(latency=30.0)  # the service is asked, and the answer is held back
    Generation.objects.filter(pk=generation.pk).update(next_poll_at=timezone.now())
    refresh_due_generations.apply_async(queue="doomed")
    request_id = Generation.objects.get(pk=generation.pk).request_id
    wait_for(lambda: studio_api.state()["polls"].get(request_id), timeout=30, message="the tick to ask")
    doomed.kill()
    generation.refresh_from_db()
    assert generation.lease_token and generation.next_poll_at > timezone.now()  # held by the dead tick

    studio_api.configure(latency=0.0)
    beat = worker_factory.beat()  # ticks from now on, served by the session's worker
    try:
        finished(generation)
    finally:
        beat.stop()
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    assert generation.video
    assert submissions(studio_api, prompt) == 1
