"""The estimate on an in-progress card: the team's own recent successes of the same duration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generations import estimates
from generations.estimates import Estimate
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def finished(owner, taking: float, *, duration: str = "5", days_ago: float = 0, team=None, **fields) -> Generation:
    """A generation created `days_ago` that took `taking` seconds from creation to its end."""
    created = timezone.now() - timedelta(days=days_ago, seconds=taking)
    fields.setdefault("status", Generation.Status.SUCCESS)
    return make_generation(
        owner, team, duration=duration, created_at=created, finished_at=created + timedelta(seconds=taking), **fields
    )


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (20, "usually ready in under a minute"),
        (59, "usually ready in under a minute"),
        (60, "usually ready in about 1 min"),
        (130, "usually ready in about 2 min"),
        (155, "usually ready in about 3 min"),
        (3600, "usually ready in about 1 h"),
        (3720, "usually ready in about 1 h 02 min"),
    ],
)
def test_it_says_the_typical_time_in_rounded_words(seconds, words):
    assert Estimate(timedelta(seconds=seconds)).words == words


def test_it_is_the_median_of_the_teams_recent_successes_of_each_duration(owner, team):
    for seconds in (100, 110, 130, 400):
        finished(owner, seconds)
    for seconds in (300, 310, 320):
        finished(owner, seconds, duration="10")
    assert estimates.typical_durations(team) == {
        "5": Estimate(timedelta(seconds=120)),
        "10": Estimate(timedelta(seconds=310)),
    }


def test_it_leaves_out_failures_old_ones_other_teams_and_all_but_the_last_twenty(owner, team, django_user_model):
    stranger = django_user_model.objects.create_user("stranger", password="a long enough password")
    for _ in range(20):
        finished(owner, 60)
    finished(owner, 900, days_ago=1)  # the 21st newest: left out
    finished(owner, 900, days_ago=40)
    finished(owner, 900, status=Generation.Status.FAILED)
    finished(owner, 900, status=Generation.Status.CANCELLED)
    make_generation(owner, duration="5", status=Generation.Status.PROCESSING, created_at=timezone.now())
    for _ in range(3):
        finished(stranger, 900)
    assert estimates.typical_durations(team) == {"5": Estimate(timedelta(seconds=60))}


def test_with_fewer_than_three_successes_there_is_no_estimate(owner, team):
    finished(owner, 60)
    finished(owner, 60)
    assert estimates.typical_durations(team) == {}


def test_an_in_progress_card_shows_the_estimate_and_a_finished_one_does_not(client, owner):
    for seconds in (115, 120, 125):
        finished(owner, seconds)
    make_generation(owner, prompt="Still working", duration="5", status=Generation.Status.PROCESSING)
    make_generation(owner, prompt="Still working too", duration="10", status=Generation.Status.QUEUED)
    client.force_login(owner)
    html = client.get("/").content.decode()
    assert html.count("Usually ready in about 2 min") == 1  # the 5 s one; the 10 s one has no history


def test_an_in_progress_gallery_card_shows_its_elapsed_time_and_the_estimate(client, owner):
    for seconds in (115, 120, 125):
        finished(owner, seconds)
    working = make_generation(owner, prompt="Still working", duration="5", status=Generation.Status.PROCESSING)
    client.force_login(owner)
    html = client.get("/gallery/").content.decode()
    card = html.split(f'id="gallery-card-{working.pk}"', 1)[1].split("</li>", 1)[0]
    since = int(working.created_at.timestamp())
    assert f'class="elapsed" title="Time since it was created" data-since="{since}"' in card
    assert "usually ready in about 2 min" in card
    assert html.count("usually ready in about") == 1  # finished cards have none


def test_a_card_taking_much_longer_than_usual_says_so(client, owner):
    for seconds in (60, 60, 60):
        finished(owner, seconds)
    make_generation(
        owner, duration="5", status=Generation.Status.PROCESSING, created_at=timezone.now() - timedelta(minutes=5)
    )
    client.force_login(owner)
    assert "Usually ready in about 1 min; this one is taking longer" in client.get("/").content.decode()


def count_queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


@pytest.mark.parametrize("path", ["/", "/gallery/", "/live/?on=studio"])
def test_a_page_looks_the_estimates_up_once_whatever_its_number_of_cards(client, owner, path):
    for seconds in (60, 60, 60):
        finished(owner, seconds)
    client.force_login(owner)
    cards = [make_generation(owner, duration="5", status=Generation.Status.PROCESSING)]
    one = count_queries(client, f"{path}{'&' if '?' in path else '?'}id={cards[0].pk}")
    cards += [make_generation(owner, duration="5", status=Generation.Status.PROCESSING) for _ in range(9)]
    ids = "&".join(f"id={card.pk}" for card in cards)
    assert count_queries(client, f"{path}{'&' if '?' in path else '?'}{ids}") == one


def test_a_page_looks_each_duration_up_once_and_only_the_durations_it_shows(client, owner):
    for seconds in (60, 60, 60):
        finished(owner, seconds)
        finished(owner, seconds * 2, duration="10")
    client.force_login(owner)
    none_in_progress = count_queries(client, "/")
    make_generation(owner, duration="5", status=Generation.Status.PROCESSING)
    one_duration = count_queries(client, "/")
    for duration in ["5", "10"] * 5:
        make_generation(owner, duration=duration, status=Generation.Status.QUEUED)
    both_durations = count_queries(client, "/")
    assert (one_duration - none_in_progress, both_durations - none_in_progress) == (1, 2)
    html = client.get("/").content.decode()
    assert html.count("Usually ready in about 1 min") == 6 and html.count("Usually ready in about 2 min") == 5
