"""The gallery's small things: times in words, a bad date range that leaves the other
filters be, and unfavouriting a selection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from generations.models import Favourite
from tests.factories import make_generation

pytestmark = pytest.mark.django_db
HTMX_RESULTS = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "gallery-results"}


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def gallery(client, **params):
    return client.get(reverse("generations:gallery"), params)


def shown(response) -> list[int]:
    return [generation.pk for generation in response.context["page"].items]


def ago(moment) -> str:
    return Template("{% load studio %}{{ moment|ago }}").render(Context({"moment": moment}))


def test_a_time_under_a_minute_ago_reads_just_now():
    now = timezone.now()
    assert ago(now) == "just now"
    assert ago(now - timedelta(seconds=59)) == "just now"
    assert ago(now + timedelta(seconds=5)) == "just now"  # a clock a little ahead
    assert ago(now - timedelta(seconds=61)) == "1\xa0minute ago"
    assert ago(now - timedelta(hours=3, minutes=2)) == "3\xa0hours, 2\xa0minutes ago"
    assert ago(None) == ""


def test_a_card_made_seconds_ago_says_just_now(as_owner, owner, team):
    make_generation(owner, team, prompt="fresh")
    make_generation(owner, team, prompt="older", created_at=timezone.now() - timedelta(minutes=5))
    html = gallery(as_owner).content.decode()
    assert ">just now</time>" in html
    assert ">5\xa0minutes ago</time>" in html
    assert "0\xa0minutes ago" not in html


def test_a_backwards_date_range_is_explained_and_the_other_filters_still_apply(as_owner, owner, team):
    now = timezone.now()
    wanted = make_generation(owner, team, aspect_ratio="1:1", created_at=now - timedelta(days=40))
    make_generation(owner, team, aspect_ratio="16:9")
    response = gallery(as_owner, aspect_ratio="1:1", created_from="2026-05-02", created_to="2026-05-01")
    assert response.context["form"].errors["created_to"] == ["The end date is before the start date."]
    assert shown(response) == [wanted.pk]  # the shape still filters; neither date does
    html = response.content.decode()
    assert '<div id="date-range-error"><p class="field-error" role="alert">The end date is before' in html


def test_a_bad_value_drops_only_itself(as_owner, owner, team):
    wanted = make_generation(owner, team, duration="10")
    make_generation(owner, team, duration="5")
    response = gallery(as_owner, duration="10", status="not-a-status", created_from="someday")
    assert set(response.context["form"].errors) == {"status", "created_from"}
    assert shown(response) == [wanted.pk]


def test_with_htmx_the_date_error_is_swapped_beside_the_date_fields_and_cleared_again(as_owner, owner, team):
    wanted = make_generation(owner, team, aspect_ratio="9:16")
    make_generation(owner, team)
    url = reverse("generations:gallery")
    bad = as_owner.get(
        url, {"aspect_ratio": "9:16", "created_from": "2026-05-02", "created_to": "2026-05-01"}, **HTMX_RESULTS
    )
    html = bad.content.decode()
    assert shown(bad) == [wanted.pk]
    assert '<div id="date-range-error" hx-swap-oob="true"><p class="field-error" role="alert">' in html
    good = as_owner.get(url, {"aspect_ratio": "9:16", "created_from": "2026-05-01"}, **HTMX_RESULTS)
    assert '<div id="date-range-error" hx-swap-oob="true"></div>' in good.content.decode()


def test_the_full_page_has_one_date_error_place_and_no_out_of_band_swap(as_owner):
    html = gallery(as_owner).content.decode()
    assert html.count('id="date-range-error"') == 1
    assert "hx-swap-oob" not in html


def test_bulk_unfavourite_removes_only_my_favourites_of_the_selection(as_owner, owner, team, django_user_model):
    teammate = django_user_model.objects.create_user("tomas", password="a long enough password")
    team.memberships.create(user=teammate)
    picks = [make_generation(owner, team) for _ in range(3)]
    kept = make_generation(owner, team)
    for generation in [*picks, kept]:
        Favourite.objects.create(user=owner, generation=generation)
        Favourite.objects.create(user=teammate, generation=generation)
    response = as_owner.post(
        reverse("generations:bulk"), {"action": "unfavourite", "ids": [g.pk for g in picks[:2]] + [picks[2].pk]}
    )
    assert response.status_code == 302
    assert list(Favourite.objects.filter(user=owner).values_list("generation", flat=True)) == [kept.pk]
    assert Favourite.objects.filter(user=teammate).count() == 4
    page = as_owner.get(response["Location"])
    assert "Removed 3 from your favourites." in page.content.decode()


def test_an_outsider_cannot_unfavourite_for_anyone(client, owner, team, django_user_model):
    generation = make_generation(owner, team)
    Favourite.objects.create(user=owner, generation=generation)
    client.force_login(django_user_model.objects.create_user("oscar", password="a long enough password"))
    client.post(reverse("generations:bulk"), {"action": "unfavourite", "ids": [generation.pk]})
    assert Favourite.objects.filter(user=owner, generation=generation).exists()


def test_the_bulk_bar_offers_select_all_a_count_and_unfavourite(as_owner):
    html = gallery(as_owner).content.decode()
    assert '<span class="bulk-select" hidden>' in html  # gallery.js shows it; without JavaScript, no dead control
    assert '<input type="checkbox" id="select-all"> Select all' in html
    assert 'id="selected-count" class="bulk-count" data-limit="100">None selected' in html
    assert '<button type="submit" name="action" value="unfavourite">Unfavourite</button>' in html
