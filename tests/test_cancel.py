"""Cancel: a person stops a generation that is waiting or being made. The studio ends it at
once and asks the service to stop it (`DELETE /requests/{id}`, best effort), against the
emulator over real HTTP."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations import failures, poller
from generations.gmi import GMIClient
from generations.models import Generation
from generations.tasks import cancel_unrecorded_submission, send_claimed, submit_generation
from tests import factories
from tests.conftest import submissions, wait_for
from tests.steps import make_due, tick

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def make_generation(owner):
    def make(prompt: str = "A heron in the reeds", **fields) -> Generation:
        return factories.make_generation(owner, prompt=prompt, **fields)

    return make


@pytest.fixture
def cancel(client, owner, django_capture_on_commit_callbacks):
    """Press Cancel on a card as htmx does; what the view queues after the commit runs."""
    client.force_login(owner)

    def press(generation: Generation, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse("generations:cancel", args=[generation.pk]), **{**HTMX, **headers})
        generation.refresh_from_db()
        return response

    return press


def sent(make_generation, prompt: str, status: str = "queued") -> Generation:
    generation = make_generation(prompt=prompt)
    submit_generation(generation.pk)
    generation.refresh_from_db()
    if status == "processing":
        wait_for(lambda: (tick(), Generation.objects.get(pk=generation.pk).status == status)[1], timeout=20)
        generation.refresh_from_db()
    assert generation.status == status
    return generation


def test_a_generation_never_sent_is_cancelled_and_never_sent_afterwards(studio_api, make_generation, cancel):
    generation = make_generation(prompt="cancelled before sending")
    response = cancel(generation)
    assert response.status_code == 200
    assert generation.status == Generation.Status.CANCELLED
    assert generation.failure_reason == f"{failures.CANCELLED_IN_STUDIO} {failures.NEVER_SENT}"
    submit_generation(generation.pk)  # the submit task queued when it was made, delivered late
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED and generation.request_id is None
    assert submissions(studio_api, "cancelled before sending") == 0
    html = response.content.decode()
    assert "Cancelled." in html and "Cancel</button>" not in html
    assert "Cancelled. The studio no longer follows it." in html  # the message, swapped in out of band


def test_a_processing_generation_is_cancelled_here_and_at_the_service(studio_api, make_generation, cancel, eager_tasks):
    generation = sent(make_generation, "cancelled while processing", status="processing")
    html = cancel(generation).content.decode()
    assert generation.status == Generation.Status.CANCELLED
    assert studio_api.state()["requests"][generation.request_id] == "cancelled"
    assert generation.failure_reason.endswith(failures.STOPPED)
    assert "The video service stopped it." not in html  # the answer comes after the page's own answer
    assert 'hx-trigger="sse:generation-' in html  # so the card waits for it
    make_due(generation)
    assert poller.refresh_due().claimed == 0  # the studio no longer follows it


def test_the_card_shows_the_services_answer_once_it_came(studio_api, make_generation, client, owner, eager_tasks,
                                                        cancel):  # fmt: skip
    generation = sent(make_generation, "cancelled, then looked at")
    cancel(generation)
    html = client.get(reverse("generations:card", args=[generation.pk])).content.decode()
    assert "The video service stopped it." in html
    assert "hx-trigger" not in html  # nothing more to wait for


def test_a_cancel_the_service_refuses_still_ends_it_here_and_says_the_service_may_finish_it(
    studio_api, make_generation, cancel, client, eager_tasks
):
    generation = sent(make_generation, "refused cancel")
    studio_api.configure(error_rate={"cancel_request": 1.0})
    cancel(generation)
    assert generation.status == Generation.Status.CANCELLED
    assert studio_api.state()["requests"][generation.request_id] != "cancelled"
    html = client.get(reverse("generations:card", args=[generation.pk])).content.decode()
    assert "the service may still finish it" in html
    make_due(generation)
    assert poller.refresh_due().claimed == 0  # not followed: whatever the service does, the studio keeps nothing


def test_a_submit_in_flight_when_cancelled_cancels_what_it_sent(studio_api, make_generation, cancel, eager_tasks,
                                                               django_capture_on_commit_callbacks):  # fmt: skip
    generation = make_generation(prompt="cancelled while being sent")
    claimed = Generation.objects.claim_for_submit(generation.pk)  # a worker is sending it
    cancel(generation)
    assert generation.status == Generation.Status.CANCELLED
    with django_capture_on_commit_callbacks(execute=True):
        send_claimed(claimed)  # the worker's request reaches the service after the cancel
    generation.refresh_from_db()
    assert submissions(studio_api, "cancelled while being sent") == 1
    assert generation.status == Generation.Status.CANCELLED
    assert studio_api.state()["requests"][generation.request_id] == "cancelled"
    assert generation.failure_reason.endswith(failures.STOPPED)


def test_what_a_worker_that_died_mid_submit_had_sent_is_found_and_cancelled(
    studio_api, make_generation, cancel, eager_tasks, django_capture_on_commit_callbacks
):
    generation = make_generation(prompt="sent, then the worker died, then cancelled")
    claimed = Generation.objects.claim_for_submit(generation.pk)
    sent_by_the_dead_worker = GMIClient.from_settings().submit(claimed.parameters)  # never recorded
    cancel(generation)  # queues the search for it; it runs once the worker's claim has run out (here at once)
    assert generation.status == Generation.Status.CANCELLED
    assert generation.request_id == sent_by_the_dead_worker.request_id
    assert studio_api.state()["requests"][generation.request_id] == "cancelled"
    assert generation.failure_reason.endswith(failures.STOPPED)
    with django_capture_on_commit_callbacks(execute=True):
        cancel_unrecorded_submission(generation.pk)  # a second delivery finds nothing to do
    assert submissions(studio_api, "sent, then the worker died, then cancelled") == 1


def test_a_cancel_racing_a_success_keeps_the_video_and_says_so(studio_api, make_generation, cancel):
    generation = make_generation(prompt="finished first", status=Generation.Status.PROCESSING, request_id="r-1")
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.SUCCESS)  # a worker stored it meanwhile
    html = cancel(generation).content.decode()
    assert generation.status == Generation.Status.SUCCESS
    assert "It finished before the cancel arrived, so it was kept." in html


def test_a_video_being_stored_is_not_cancelled(studio_api, make_generation, cancel):
    generation = make_generation(
        prompt="being stored", status=Generation.Status.PROCESSING, request_id="r-2", video_url="https://x/v.mp4"
    )
    cancel(generation)
    assert generation.status == Generation.Status.PROCESSING


def test_a_generation_that_had_failed_stays_failed(studio_api, make_generation, cancel):
    generation = make_generation(status=Generation.Status.FAILED, failure_reason="Video generation timed out on worker")
    html = cancel(generation).content.decode()
    assert generation.status == Generation.Status.FAILED
    assert "nothing to cancel" in html


def test_without_javascript_cancel_posts_and_returns_to_the_generation(client, owner, make_generation):
    generation = make_generation()
    client.force_login(owner)
    response = client.post(reverse("generations:cancel", args=[generation.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("generations:detail", args=[generation.pk])
    assert client.get(reverse("generations:cancel", args=[generation.pk])).status_code == 405


def test_a_gallery_card_offers_cancel_and_comes_back_as_a_gallery_card(
    studio_api, client, owner, make_generation, cancel
):
    generation = make_generation(status=Generation.Status.PROCESSING, request_id="r-gallery")
    client.force_login(owner)
    gallery = client.get(reverse("generations:gallery")).content.decode()
    assert f'hx-post="/generations/{generation.pk}/cancel/?on=gallery"' in gallery
    assert f'hx-target="#gallery-card-{generation.pk}"' in gallery

    html = cancel(generation, QUERY_STRING="on=gallery").content.decode()
    assert generation.status == Generation.Status.CANCELLED
    assert f'<li class="gallery-card status-cancelled" id="gallery-card-{generation.pk}"' in html
    assert "cancel-button" not in html
    assert "Cancelled. The studio no longer follows it." in html


def test_a_finished_gallery_card_offers_no_cancel(client, owner, make_generation):
    make_generation(status=Generation.Status.SUCCESS)
    client.force_login(owner)
    assert "cancel-button" not in client.get(reverse("generations:gallery")).content.decode()


def test_an_outsider_gets_404_and_cancels_nothing(client, django_user_model, make_generation):
    generation = make_generation()
    client.force_login(django_user_model.objects.create_user("outsider"))
    assert client.post(reverse("generations:cancel", args=[generation.pk])).status_code == 404
    generation.refresh_from_db()
    assert generation.status == Generation.Status.PENDING


def test_the_cancel_tasks_go_to_the_submit_queue():
    from generations.tasks import cancel_request
    from kling_studio import celery_app

    for task in (cancel_request, cancel_unrecorded_submission):
        assert celery_app.amqp.router.route({}, task.name)["queue"].name == "submit"
