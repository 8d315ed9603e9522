"""Failures in words: each stored reason becomes a plain message and the next step that can
help, and the card offers *Try again* only where it can."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generations import failures
from generations.failures import Kind
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

GIVEN_UP = (
    "The video service could not be reached: The video service had a problem (HTTP 503). Gave up after 5 attempts."
)


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        ("failed", "The video service rejected the request: prompt contains forbidden words", Kind.CONTENT_REFUSED),
        ("failed", "Content moderation rejected the prompt", Kind.CONTENT_REFUSED),  # the service's own words
        ("failed", GIVEN_UP, Kind.SERVICE_TROUBLE),
        ("failed", "The video service's rate limit for this organisation was reached. Gave up after 3 attempts.",
         Kind.SERVICE_TROUBLE),
        ("failed", "Video generation failed on worker: out of memory", Kind.SERVICE_TROUBLE),
        ("failed", "Video generation timed out on worker", Kind.SERVICE_TROUBLE),
        ("failed", "The video service no longer knows this request.", Kind.SERVICE_TROUBLE),
        ("failed", "The video was not ready within 30 minutes, so the studio stopped waiting.", Kind.DEADLINE),
        ("failed", "The finished video could not be stored: too big. The studio tried 5 times.", Kind.STORAGE),
        ("failed", "The video service refused the studio's API key; an administrator needs to check it.", Kind.SETUP),
        ("failed", "The video service rejected the request: it does not offer the model 'X'.", Kind.SETUP),
        ("failed", "The parameters break the video service's rules: duration", Kind.SETUP),
        ("failed", "The video service reported that the generation failed.", Kind.UNKNOWN),
        ("failed", "", Kind.UNKNOWN),
        ("cancelled", "Request was cancelled", Kind.CANCELLED_BY_SERVICE),
        ("cancelled", "Cancelled in the studio. The video service stopped it.", Kind.CANCELLED_IN_STUDIO),
    ],
)  # fmt: skip
def test_it_classifies_each_kind_of_failure(status, reason, kind):
    failure = failures.explain(status, reason)
    assert failure.kind == kind
    assert failure.reason == reason  # the original, to show small


def test_it_says_how_many_times_the_studio_tried():
    assert failures.explain("failed", GIVEN_UP).headline == "The video service had trouble; the studio tried 5 times."


def test_a_content_refusal_says_to_reword_the_prompt_and_offers_no_try_again():
    failure = failures.explain("failed", "Content moderation rejected the prompt")
    assert "Reword the prompt" in failure.next_step
    assert not failure.can_try_again and failure.remix_first


@pytest.mark.parametrize(
    ("reason", "can_try_again"),
    [(GIVEN_UP, True), ("The video was not ready within 30 minutes, so the studio stopped waiting.", True),
     ("The video service refused the studio's API key; an administrator needs to check it.", False)],
)  # fmt: skip
def test_try_again_is_offered_only_where_it_can_help(reason, can_try_again):
    assert failures.explain("failed", reason).can_try_again is can_try_again


def test_an_unfinished_or_finished_generation_has_no_failure():
    assert failures.explain("processing", "") is None
    assert failures.explain("success", "") is None


def test_a_cancel_from_the_studio_carries_what_the_service_made_of_it():
    reason = f"{failures.CANCELLED_IN_STUDIO} {failures.MAY_STILL_FINISH.format(reason='HTTP 500')}"
    failure = failures.explain("cancelled", reason)
    assert failure.headline == "Cancelled."
    assert "the service may still finish it" in failure.note
    assert not failures.is_awaiting_cancel("cancelled", reason)
    assert failures.is_awaiting_cancel("cancelled", f"{failures.CANCELLED_IN_STUDIO} {failures.ASKING}")


# The cards.


def card(client, owner, **fields) -> str:
    generation = make_generation(owner, prompt="A fox", **fields)
    client.force_login(owner)
    return client.get(reverse("generations:card", args=[generation.pk])).content.decode()


def test_a_refused_prompt_shows_the_plain_message_the_reason_small_and_remix_not_try_again(client, owner):
    html = card(client, owner, status=Generation.Status.FAILED, failure_reason="Content moderation rejected the prompt")
    assert "The video service refused this prompt." in html
    assert "Reword the prompt" in html
    assert "<small>Reason given: Content moderation rejected the prompt</small>" in html
    assert "Try again" not in html
    assert 'class="button primary" href="/generations/' in html  # Remix is the primary action


def test_service_trouble_says_how_often_the_studio_tried_and_offers_try_again(client, owner):
    html = card(client, owner, status=Generation.Status.FAILED, failure_reason=GIVEN_UP)
    assert "the studio tried 5 times" in html
    assert "Try again" in html and "Remix" in html


def test_a_setup_problem_sends_the_person_to_an_administrator_without_try_again(client, owner):
    reason = "The video service refused the studio's API key; an administrator needs to check it."
    html = card(client, owner, status=Generation.Status.FAILED, failure_reason=reason)
    assert "An administrator needs to check" in html
    assert "Try again" not in html


def test_an_unfinished_card_offers_cancel_and_a_finished_one_does_not(client, owner):
    assert "Cancel</button>" in card(client, owner, status=Generation.Status.PROCESSING, request_id="r-1")
    assert "Cancel</button>" in card(client, owner)  # pending: not sent yet
    assert "Cancel</button>" not in card(client, owner, status=Generation.Status.SUCCESS)
    assert "Cancel</button>" not in card(client, owner, status=Generation.Status.FAILED, failure_reason=GIVEN_UP)
