"""Real faults: Redis restarting under a running worker, beat and web, with work in flight."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import redis
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from generations.models import Generation
from generations.querysets import OUTBOX_GRACE_SECONDS
from generations.tasks import queue_submission
from kling_studio.localservices import free_port, start_redis
from tests.conftest import submissions, wait_for
from tests.factories import make_generation

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

A_VIDEO = {"prompt": "", "duration": "5", "aspect_ratio": "16:9", "cfg_scale": "0.5"}


def all_final(generations: list[Generation], timeout: float = 120) -> list[Generation]:
    def done():
        fresh = [Generation.objects.get(pk=g.pk) for g in generations]
        return fresh if all(g.is_final for g in fresh) else None

    return wait_for(done, timeout=timeout, message="every generation to finish")


def test_through_redis_restarts_the_worker_runs_on_and_nothing_is_lost_or_sent_twice(
    studio_api, redis_server, celery_worker, beat, django_user_model, client
):
    studio_api.configure(processing_seconds=3.0, latency=1.0)  # each submit holds its task a while
    owner = django_user_model.objects.create_user("rhea", password="a long enough password")
    asked: list[Generation] = []
    stop = threading.Event()

    def ask_for_videos():  # as people do, whatever Redis is doing
        try:
            while not stop.wait(0.4):
                asked.append(make_generation(owner, prompt=f"video {len(asked)}"))
                queue_submission(asked[-1].pk)  # False while Redis is away: recovery sends it later
        finally:
            connection.close()

    feeder = threading.Thread(target=ask_for_videos)
    feeder.start()
    client.force_login(owner)
    try:
        for down in (3.0, 0.5, 1.5):
            wait_for(lambda: studio_api.state()["submissions"] > len(asked) // 2, message="submissions under way")
            redis_server.stop()  # late-acknowledged tasks running, their acknowledgements owed, ticks due
            response = client.post(reverse("generations:create"), {**A_VIDEO, "prompt": f"asked while away {down}"})
            assert response.status_code == 302  # not a 500: the row is the outbox
            time.sleep(down)
            redis_server.start()
            assert celery_worker.process.poll() is None, celery_worker.output()[
                -3000:
            ]  # it reconnects, it does not die
    finally:
        stop.set()
        feeder.join(30)
    studio_api.configure(latency=0.0)
    away = list(Generation.objects.filter(prompt__startswith="asked while away"))
    assert len(away) == 3 and len(asked) > 10

    finished = all_final([*asked, *away], timeout=240)
    assert "Unrecoverable error" not in celery_worker.output()
    assert {g.status for g in finished} == {Generation.Status.SUCCESS}, [(g.pk, g.failure_reason) for g in finished]
    assert all(submissions(studio_api, g.prompt) == 1 for g in finished)


def test_a_video_asked_for_while_the_queue_is_away_is_saved_and_the_person_told(
    studio_api, redis_server, django_user_model, client
):
    client.force_login(django_user_model.objects.create_user("ravi"))
    redis_server.stop()
    try:
        response = client.post(reverse("generations:create"), {**A_VIDEO, "prompt": "saved for later"}, follow=True)
        htmx = client.post(reverse("generations:create"), {**A_VIDEO, "prompt": "and this"}, HTTP_HX_REQUEST="true")
    finally:
        redis_server.start()
    assert response.status_code == 200
    assert "will be sent as soon as the queue is back" in response.content.decode()
    assert 'id="messages" hx-swap-oob="true"' in htmx.content.decode()
    assert "will be sent as soon as the queue is back" in htmx.content.decode()
    pending = Generation.objects.filter(prompt__in=["saved for later", "and this"], status=Generation.Status.PENDING)
    assert pending.count() == 2
    moments_later = timezone.now() + timedelta(seconds=OUTBOX_GRACE_SECONDS + 1)
    assert Generation.objects.stalled_submissions(moments_later).count() == 2  # what recovery sends once it is back


def test_the_redis_of_make_run_keeps_what_it_holds_across_a_restart(tmp_path):
    port = free_port()
    server = start_redis(port, tmp_path, persistent=True)
    client = redis.Redis(port=port)
    client.rpush("submit", "a queued task")
    time.sleep(1.5)  # the append-only file is written every second
    server.terminate()
    server.wait(10)
    server = start_redis(port, tmp_path, persistent=True)
    try:
        assert redis.Redis(port=port).lrange("submit", 0, -1) == [b"a queued task"]
    finally:
        server.terminate()
        server.wait(10)
