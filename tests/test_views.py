"""The studio's pages, through Django's test client: what a person and htmx get back."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils.html import escape

from generations.models import Generation
from tests.factories import make_generation
from tests.people import PASSWORD

pytestmark = pytest.mark.django_db

VALID = {
    "prompt": "A red fox in the snow",
    "negative_prompt": "",
    "duration": "5",
    "aspect_ratio": "16:9",
    "cfg_scale": "0.5",
}
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def generation(owner) -> Generation:
    return make_generation(owner, prompt="Waves at dusk", aspect_ratio="1:1")


@pytest.fixture
def finished(owner) -> Generation:
    generation = make_generation(owner, prompt="A lighthouse", status=Generation.Status.SUCCESS)
    generation.video.save("video.mp4", ContentFile(b"0123456789" * 100), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8jpeg"), save=False)
    generation.save()
    return generation


def test_every_studio_page_needs_a_login(client, generation):
    for name, args in [
        ("create", []),
        ("detail", [generation.pk]),
        ("card", [generation.pk]),
        ("remix", [generation.pk]),
    ]:
        response = client.get(reverse(f"generations:{name}", args=args))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_signing_up_logs_the_person_in(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "grace",
            "email": "grace@example.com",
            "password1": "correct horse battery",
            "password2": "correct horse battery",
        },
    )
    assert response.status_code == 302
    assert client.get(reverse("generations:create")).status_code == 200


def test_the_create_page_labels_every_field(client, owner):
    client.force_login(owner)
    html = client.get(reverse("generations:create")).content.decode()
    for field, label in [("prompt", "Prompt"), ("negative_prompt", "Negative prompt"), ("cfg_scale", "CFG scale")]:
        assert f'<label for="id_{field}">{label}</label>' in html
    assert "<legend>Duration</legend>" in html and "<legend>Aspect ratio</legend>" in html
    assert "lower (0.3–0.5) is more creative".lower() in html.lower()
    assert "vendor/htmx.min.js" in html and "unpkg" not in html


def test_posting_the_form_creates_a_generation_and_queues_its_submission(
    client, owner, django_capture_on_commit_callbacks
):
    client.force_login(owner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(reverse("generations:create"), VALID)
    assert response.status_code == 302
    generation = Generation.objects.get()
    assert generation.created_by == owner
    assert generation.status == Generation.Status.PENDING  # no API call in the web request
    assert generation.request_id is None
    assert len(callbacks) == 1


def test_an_htmx_post_answers_with_the_form_as_sent_and_the_new_card(client, owner):
    client.force_login(owner)
    sent = {**VALID, "negative_prompt": "blurry", "duration": "10", "aspect_ratio": "9:16", "cfg_scale": "0.7"}
    response = client.post(reverse("generations:create"), sent, **HTMX)
    html = response.content.decode()
    generation = Generation.objects.get()
    assert response.status_code == 200
    assert 'hx-swap-oob="afterbegin:#generation-list"' in html
    assert f'id="generation-{generation.pk}"' in html
    assert f'data-sent="{generation.pk}"' in html  # studio.js moves the focus back and shows the card
    assert 'id="generate-shortcut" hidden>' in html  # studio.js shows the hint: no shortcut without it
    form = response.context["form"]  # the next try is one small edit away
    assert {name: form[name].value() for name in sent} == sent
    assert ">\nA red fox in the snow</textarea>" in html and ">\nblurry</textarea>" in html
    assert re.search(r'<input[^>]*value="10"[^>]*checked', html)
    assert re.search(r'<input[^>]*value="9:16"[^>]*checked', html)
    assert 'value="0.7"' in html


def test_without_javascript_a_post_redirects_to_the_studio_page(client, owner):
    client.force_login(owner)
    response = client.post(reverse("generations:create"), VALID)
    assert response.status_code == 302 and response["Location"] == reverse("generations:create")


def test_the_studio_page_links_to_my_generations_in_the_gallery(client, owner):
    client.force_login(owner)
    html = client.get(reverse("generations:create")).content.decode()
    assert f'href="{reverse("generations:gallery")}?creator={owner.pk}">All yours in the Gallery</a>' in html


def test_an_invalid_post_keeps_what_was_typed_and_explains(client, owner):
    client.force_login(owner)
    long_prompt = "fog over a harbour " * 140
    response = client.post(reverse("generations:create"), {**VALID, "prompt": long_prompt, "cfg_scale": "2"})
    html = response.content.decode()
    assert response.status_code == 200
    assert long_prompt in html
    assert "The prompt is 2,660 characters long; the limit is 2,500." in html
    assert "The CFG scale must be a number from 0.0 to 1.0." in html
    assert not Generation.objects.exists()


def test_an_unfinished_card_listens_for_its_event_and_a_final_one_stops_listening(client, owner, generation):
    client.force_login(owner)
    url = reverse("generations:card", args=[generation.pk])
    in_progress = client.get(url, **HTMX).content.decode()
    # its own event, or the page's word that it is older than its news (static/live.js); no polling
    assert f'hx-trigger="sse:generation-{generation.pk}, live-stale"' in in_progress
    assert f'class="live-id" name="id" value="{generation.pk}"' in in_progress  # for the page's fallback poller
    generation.fail("Video generation failed on worker: out of memory")
    final = client.get(url, **HTMX)
    assert final.status_code == 200
    html = final.content.decode()
    assert "hx-trigger" not in html and "live-id" not in html
    assert "Video generation failed on worker: out of memory" in html
    assert "Try again" in html


def test_a_new_card_also_fetches_itself_once_in_case_its_first_event_came_before_it(client, owner):
    client.force_login(owner)
    html = client.post(reverse("generations:create"), VALID, **HTMX).content.decode()
    generation = Generation.objects.get()
    assert f'hx-trigger="sse:generation-{generation.pk}, live-stale, load delay:2s"' in html


def test_the_studio_page_connects_to_the_teams_event_stream_and_has_one_fallback_poller(client, owner, generation):
    client.force_login(owner)
    html = client.get(reverse("generations:create")).content.decode()
    assert f'sse-connect="{reverse("generations:events")}"' in html
    assert html.count('id="live-poller"') == 1
    assert 'hx-trigger="live-poll, live-resync"' in html  # fired by live.js while the stream is down


def test_a_finished_card_embeds_the_player_with_its_thumbnail(client, owner, finished):
    client.force_login(owner)
    html = client.get(reverse("generations:card", args=[finished.pk])).content.decode()
    assert "<video controls" in html
    assert f'poster="/generations/{finished.pk}/thumbnail.jpg"' in html
    assert f'src="/generations/{finished.pk}/video.mp4"' in html


def test_try_again_sends_the_same_parameters_as_a_new_generation(client, owner, generation):
    generation.fail("Content moderation rejected the prompt")
    client.force_login(owner)
    response = client.post(reverse("generations:retry", args=[generation.pk]))
    assert response.status_code == 302
    retried = Generation.objects.exclude(pk=generation.pk).get()
    assert retried.parameters == generation.parameters
    assert retried.status == Generation.Status.PENDING


def test_the_video_is_served_with_ranges_for_seeking(client, owner, finished):
    client.force_login(owner)
    url = reverse("generations:video", args=[finished.pk])
    whole = client.get(url)
    assert whole.status_code == 200
    assert whole["Content-Type"] == "video/mp4"
    assert whole["Accept-Ranges"] == "bytes"
    part = client.get(url, HTTP_RANGE="bytes=10-19")
    assert part.status_code == 206
    assert part["Content-Range"] == "bytes 10-19/1000"
    assert b"".join(part.streaming_content) == b"0123456789"
    tail = client.get(url, HTTP_RANGE="bytes=-5")
    assert b"".join(tail.streaming_content) == b"56789"
    assert client.get(url, HTTP_RANGE="bytes=5000-").status_code == 416


def test_a_video_not_yet_stored_is_not_found(client, owner, generation):
    client.force_login(owner)
    assert client.get(reverse("generations:video", args=[generation.pk])).status_code == 404


@pytest.mark.parametrize("name", ["detail", "card", "remix", "video", "thumbnail"])
def test_an_outsider_gets_404_for_someone_elses_generation(client, outsider, finished, name):
    client.force_login(outsider)
    assert client.get(reverse(f"generations:{name}", args=[finished.pk])).status_code == 404


def test_an_outsider_cannot_retry_someone_elses_generation(client, outsider, generation):
    generation.fail("x")
    client.force_login(outsider)
    assert client.post(reverse("generations:retry", args=[generation.pk])).status_code == 404
    assert Generation.objects.count() == 1


def test_the_page_lists_only_my_generations_newest_first(client, owner, outsider):
    older = make_generation(owner, prompt="older one")
    newer = make_generation(owner, prompt="newer one")
    make_generation(outsider, prompt="not mine")
    client.force_login(owner)
    html = client.get(reverse("generations:create")).content.decode()
    assert html.index(f"generation-{newer.pk}") < html.index(f"generation-{older.pk}")
    assert "not mine" not in html


def test_without_javascript_an_unfinished_page_refreshes_itself(client, owner, generation):
    client.force_login(owner)
    html = client.get(reverse("generations:create")).content.decode()
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html


def test_the_api_key_never_reaches_a_page(client, owner, generation, settings):
    settings.GMI_API_KEY = "secret-key-that-must-not-leak"
    client.force_login(owner)
    for url in [reverse("generations:create"), reverse("generations:detail", args=[generation.pk])]:
        assert "secret-key-that-must-not-leak" not in client.get(url).content.decode()


def test_logging_in_and_out(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("generations:create")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("generations:create")).status_code == 302


def test_a_wrong_password_is_explained_and_the_username_kept(client, owner):
    response = client.post(reverse("login"), {"username": "owner", "password": "not it"})
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'value="owner"' in html


@pytest.mark.parametrize("typed", [" ", "     ", " \t\r\n ", "\u3000\u00a0"], ids=repr)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_prompt_of_only_whitespace_is_refused_and_kept(client, owner, typed, htmx):
    client.force_login(owner)
    typed_form = {"prompt": typed, "negative_prompt": "blurry", "duration": "10", "aspect_ratio": "9:16"}
    headers = {"HX-Request": "true"} if htmx else {}
    response = client.post("/", {**typed_form, "cfg_scale": "0.7"}, headers=headers)
    assert response.status_code == 200, "a blank prompt was accepted and sent to the video service"
    assert not Generation.objects.exists(), "a blank prompt was accepted and sent to the video service"
    form = response.context["form"]
    assert form.errors.get("prompt"), "no message says that the prompt is empty"
    html = response.content.decode()
    assert 'id="id_prompt_error"' in html and escape(form.errors["prompt"][0]) in html, "the message is not shown"
    for name, value in typed_form.items():
        assert form[name].value() == value, f"{name} was not kept as typed"
    textarea = re.search(r'<textarea name="prompt"[^>]*>\n(.*?)</textarea>', html, re.DOTALL)
    assert textarea and textarea[1] == escape(typed), "the prompt field does not show what was typed"
