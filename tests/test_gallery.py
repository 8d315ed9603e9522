"""The team gallery: what teammates see, find, and do with each other's videos."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from generations.gallery import PAGE_SIZE
from generations.gmi import GMIClient
from generations.models import Favourite, Generation
from generations.rules import VideoParameters
from tests.factories import make_generation
from tests.people import log_in_working_in

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def as_teammate(client, teammate, team):
    return log_in_working_in(client, teammate, team)


def finished(user, team=None, **fields) -> Generation:
    generation = make_generation(user, team, status=Generation.Status.SUCCESS, **fields)
    generation.video.save("video.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42" + b"v" * 500), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff" + b"t" * 100), save=False)
    generation.save()
    return generation


def gallery(client, **params):
    return client.get(reverse("generations:gallery"), params)


def shown(response) -> list[int]:
    return [generation.pk for generation in response.context["page"].items]


def test_teammates_see_each_others_generations_newest_first(as_teammate, owner, teammate, team, outsider):
    older = make_generation(owner, team, prompt="Olivia's comet")
    newer = make_generation(teammate, team, prompt="Tomas's lighthouse")
    make_generation(outsider, prompt="Oscar's secret")
    response = gallery(as_teammate)
    assert shown(response) == [newer.pk, older.pk]
    html = response.content.decode()
    assert "Olivia&#x27;s comet" in html and "olivia" in html  # who made it
    assert "Oscar" not in html


def test_the_card_shows_the_essentials(as_teammate, owner, team):
    generation = finished(owner, team, prompt="A whale breaching at dawn", duration="10", aspect_ratio="9:16")
    html = gallery(as_teammate).content.decode()
    assert f'src="/generations/{generation.pk}/thumbnail.jpg"' in html
    assert "A whale breaching at dawn" in html
    assert "10 s · 9:16" in html
    assert "Done" in html
    assert f'data-src="/generations/{generation.pk}/video.mp4"' in html  # the hover preview
    assert f'href="/generations/{generation.pk}/"' in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "success"}, {"done landscape"}),
        ({"status": "failed"}, {"failed square"}),
        ({"status": "in_progress"}, {"queued portrait"}),
        ({"aspect_ratio": "1:1"}, {"failed square"}),
        ({"duration": "10"}, {"queued portrait"}),
        ({"q": "landscape"}, {"done landscape"}),
        ({"q": "BLURRY"}, {"failed square"}),  # the negative prompt counts, case does not
        ({"q": "done square"}, set()),  # every word must match
        ({"status": "success", "aspect_ratio": "16:9", "duration": "5"}, {"done landscape"}),
    ],
)
def test_filters_and_search_narrow_the_gallery(as_teammate, owner, team, params, expected):
    finished(owner, team, prompt="done landscape")
    make_generation(owner, team, prompt="failed square", aspect_ratio="1:1", negative_prompt="blurry",
                    status=Generation.Status.FAILED)  # fmt: skip
    make_generation(owner, team, prompt="queued portrait", aspect_ratio="9:16", duration="10",
                    status=Generation.Status.QUEUED)  # fmt: skip
    response = gallery(as_teammate, **params)
    assert {generation.prompt for generation in response.context["page"].items} == expected


def test_it_filters_by_creator(as_teammate, owner, teammate, team):
    make_generation(owner, team, prompt="by olivia")
    mine = make_generation(teammate, team, prompt="by tomas")
    assert shown(gallery(as_teammate, creator=teammate.pk)) == [mine.pk]


def test_a_creator_from_another_team_is_not_a_choice(as_teammate, outsider):
    response = gallery(as_teammate, creator=outsider.pk)
    assert "creator" in response.context["form"].errors


def test_favourites_are_per_person(as_teammate, owner, teammate, team):
    liked = make_generation(owner, team, prompt="liked by tomas")
    make_generation(owner, team, prompt="liked by olivia only")
    Favourite.objects.create(user=teammate, generation=liked)
    Favourite.objects.create(user=owner, generation=Generation.objects.get(prompt="liked by olivia only"))
    assert shown(gallery(as_teammate, favourites="on")) == [liked.pk]


def test_it_filters_by_a_date_range(as_teammate, owner, team):
    now = timezone.now()
    old = make_generation(owner, team, prompt="last month", created_at=now - timedelta(days=30))
    recent = make_generation(owner, team, prompt="yesterday", created_at=now - timedelta(days=1))
    since = (now - timedelta(days=7)).date().isoformat()
    until = (now - timedelta(days=20)).date().isoformat()
    assert shown(gallery(as_teammate, created_from=since)) == [recent.pk]
    assert shown(gallery(as_teammate, created_to=until)) == [old.pk]


def test_a_backwards_date_range_is_explained(as_teammate):
    response = gallery(as_teammate, created_from="2026-05-02", created_to="2026-05-01")
    assert response.context["form"].errors["created_to"] == ["The end date is before the start date."]


def test_pages_are_cut_by_key_and_carry_the_filters(as_teammate, owner, team):
    moment = timezone.now()
    # Same timestamps on purpose: ties are broken by id, so nothing repeats or goes missing.
    for number in range(PAGE_SIZE + 6):
        make_generation(owner, team, prompt=f"clip {number}", created_at=moment - timedelta(seconds=number // 3))
    first = gallery(as_teammate, aspect_ratio="16:9")
    assert len(shown(first)) == PAGE_SIZE
    next_query = first.context["next_query"]
    assert "aspect_ratio=16%3A9" in next_query and "cursor=" in next_query
    assert f"?{next_query}" in first.content.decode().replace("&amp;", "&")  # a plain link, for no JavaScript
    second = as_teammate.get(f"{reverse('generations:gallery')}?{next_query}")
    assert len(shown(second)) == 6
    everything = shown(first) + shown(second)
    assert len(set(everything)) == PAGE_SIZE + 6
    expected = list(Generation.objects.for_team(team).newest_first().values_list("pk", flat=True))
    assert everything == expected
    assert second.context["next_query"].count("cursor=") == 0 or not second.context["page"].next_cursor


def test_endless_scroll_gets_only_the_next_cards(as_teammate, owner, team):
    for number in range(PAGE_SIZE + 1):
        make_generation(owner, team, prompt=f"clip {number}")
    cursor_query = gallery(as_teammate).context["next_query"]
    response = as_teammate.get(f"{reverse('generations:gallery')}?{cursor_query}", **HTMX)
    html = response.content.decode()
    assert "<html" not in html
    assert html.count('class="gallery-card') == 1
    assert 'hx-trigger="revealed"' not in html  # the last page has no sentinel


def test_changing_a_filter_with_htmx_replaces_only_the_results(as_teammate, owner, team):
    make_generation(owner, team, prompt="anything")
    response = as_teammate.get(
        reverse("generations:gallery"), {"q": "anything"}, HTTP_HX_TARGET="gallery-results", **HTMX
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="gallery-results">')
    assert 'id="gallery-filters"' not in html and 'id="bulk-form"' not in html


def test_a_broken_page_link_says_so_and_shows_the_first_page(as_teammate, owner, team):
    generation = make_generation(owner, team)
    response = gallery(as_teammate, cursor="not-a-cursor")
    assert "That page link is broken" in response.content.decode()
    assert shown(response) == [generation.pk]


@pytest.mark.parametrize("count", [1, PAGE_SIZE + 5])
def test_a_gallery_page_costs_the_same_queries_whatever_its_size(
    as_teammate, owner, team, count, django_assert_num_queries
):
    for number in range(count):
        finished(owner, team, prompt=f"clip {number}") if number % 2 else make_generation(owner, team)
    Favourite.objects.create(user=owner, generation=Generation.objects.first())
    # session, user, current team, the page (with creators and favourites), creator choices,
    # and the estimates for its in-progress cards (once, whatever their number)
    with django_assert_num_queries(6):
        response = gallery(as_teammate, status="", q="")
    assert response.status_code == 200


def test_one_request_refreshes_every_live_card_of_the_page(as_teammate, owner, team):
    queued = make_generation(owner, team, status=Generation.Status.QUEUED)
    processing = make_generation(owner, team, status=Generation.Status.PROCESSING)
    page = gallery(as_teammate).content.decode()
    assert page.count('id="live-poller"') == 1  # one poller for the page, used only while the stream is down
    assert page.count('class="live-id"') == 2
    assert page.count('hx-trigger="sse:generation-') == 2  # each unfinished card listens for its own event
    url = reverse("generations:live_cards")
    live = as_teammate.get(url, {"id": [queued.pk, processing.pk], "on": "gallery"}, **HTMX)
    assert live.status_code == 200
    assert live.content.decode().count('hx-swap-oob="true"') == 2
    assert f'id="gallery-card-{queued.pk}"' in live.content.decode()
    Generation.objects.filter(pk__in=[queued.pk, processing.pk]).update(status=Generation.Status.SUCCESS)
    done = as_teammate.get(url, {"id": [queued.pk, processing.pk], "on": "gallery"}, **HTMX)
    assert "live-id" not in done.content.decode()


def test_a_finished_card_listens_for_nothing(as_teammate, owner, team):
    finished(owner, team)
    html = gallery(as_teammate).content.decode()
    assert 'class="live-id"' not in html and "sse:generation-" not in html


def test_favouriting_toggles_for_this_person_only(as_teammate, owner, teammate, team):
    generation = make_generation(owner, team)
    url = reverse("generations:favourite", args=[generation.pk])
    first = as_teammate.post(url, **HTMX)
    assert 'aria-pressed="true"' in first.content.decode()
    assert Favourite.objects.filter(user=teammate, generation=generation).exists()
    assert not Favourite.objects.filter(user=owner).exists()
    as_teammate.post(url)
    assert not Favourite.objects.filter(user=teammate, generation=generation).exists()


def test_the_detail_page_shows_everything_about_a_generation(as_teammate, owner, team):
    generation = finished(owner, team, prompt="Neon koi in a rain puddle", negative_prompt="text", cfg_scale=0.8,
                          request_id="req-abc", duration="10")  # fmt: skip
    now = timezone.now()
    Generation.objects.filter(pk=generation.pk).update(
        created_at=now - timedelta(seconds=70), submitted_at=now - timedelta(seconds=69),
        processing_at=now - timedelta(seconds=60), finished_at=now,
    )  # fmt: skip
    html = as_teammate.get(reverse("generations:detail", args=[generation.pk])).content.decode()
    for expected in ["Neon koi in a rain puddle", "req-abc", "0.8", "10 seconds", "olivia", "Remix", "Download MP4",
                     "Copy prompt", "Delete", "<video controls", "9 s", "1 min 00 s", "1 min 10 s"]:  # fmt: skip
        assert expected in html, expected


def test_download_names_the_file_after_the_prompt(as_teammate, owner, team):
    generation = finished(owner, team, prompt="A Red Fox, running through SNOW!")
    response = as_teammate.get(reverse("generations:download", args=[generation.pk]))
    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == f'attachment; filename="a-red-fox-running-through-snow-{generation.pk}.mp4"'
    )


def test_deleting_asks_first(as_teammate, owner, team):
    generation = finished(owner, team)
    confirm = as_teammate.get(reverse("generations:delete", args=[generation.pk]))
    assert "This cannot be undone" in confirm.content.decode()
    assert Generation.objects.filter(pk=generation.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_deleting_removes_the_row_and_its_files(client, django_user_model):
    user = django_user_model.objects.create_user("dora")
    generation = finished(user)
    paths = [generation.video.path, generation.thumbnail.path]
    client.force_login(user)
    response = client.post(reverse("generations:delete", args=[generation.pk]))
    assert response.status_code == 302
    assert not Generation.objects.filter(pk=generation.pk).exists()
    assert not any(os.path.exists(path) for path in paths)


def test_deleting_a_generation_still_at_the_service_cancels_its_request_there(
    client, django_user_model, studio_api, eager_tasks, django_capture_on_commit_callbacks
):
    user = django_user_model.objects.create_user("dora")
    studio_api.configure(stuck_rate=1.0)
    request_id = GMIClient.from_settings().submit(VideoParameters(prompt="never mind")).request_id
    generation = make_generation(user, status=Generation.Status.PROCESSING, request_id=request_id)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("generations:delete", args=[generation.pk]))
    assert studio_api.state()["requests"][request_id] == "cancelled"


def test_bulk_favourite_marks_the_whole_selection(as_teammate, owner, teammate, team):
    picks = [make_generation(owner, team) for _ in range(3)]
    as_teammate.post(reverse("generations:bulk"), {"action": "favourite", "ids": [g.pk for g in picks]})
    assert Favourite.objects.filter(user=teammate).count() == 3


def test_bulk_delete_asks_for_confirmation(as_teammate, owner, team):
    picks = [make_generation(owner, team) for _ in range(2)]
    ids = [g.pk for g in picks]
    ask = as_teammate.post(reverse("generations:bulk"), {"action": "delete", "ids": ids})
    assert "Delete 2 generations?" in ask.content.decode()
    assert Generation.objects.count() == 2
    as_teammate.post(reverse("generations:bulk"), {"action": "delete", "ids": ids, "confirm": "yes"})
    assert Generation.objects.count() == 0


def test_bulk_download_zips_the_selected_videos(as_teammate, owner, team):
    picks = [finished(owner, team, prompt=f"clip number {n}") for n in range(2)]
    response = as_teammate.post(reverse("generations:bulk"), {"action": "download", "ids": [g.pk for g in picks]})
    assert response["Content-Disposition"] == 'attachment; filename="kling-studio-2-videos.zip"'
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == sorted(g.download_filename for g in picks)
    assert archive.read(picks[0].download_filename).startswith(b"\x00\x00\x00\x18ftyp")


# Outsiders: nobody sees another team's generations, files or pages.


@pytest.fixture
def as_outsider(client, outsider):
    client.force_login(outsider)
    return client


@pytest.mark.parametrize("name", ["detail", "card", "remix", "video", "thumbnail", "download", "delete"])
def test_an_outsider_gets_404_for_every_page_of_another_teams_generation(as_outsider, owner, team, name):
    generation = finished(owner, team)
    assert as_outsider.get(reverse(f"generations:{name}", args=[generation.pk])).status_code == 404


@pytest.mark.parametrize("name", ["favourite", "delete", "retry"])
def test_an_outsider_cannot_act_on_another_teams_generation(as_outsider, owner, team, name):
    generation = finished(owner, team)
    assert as_outsider.post(reverse(f"generations:{name}", args=[generation.pk])).status_code == 404
    assert Generation.objects.filter(pk=generation.pk).exists()
    assert not Favourite.objects.exists()


def test_an_outsider_cannot_guess_a_media_path(as_outsider, owner, team):
    generation = finished(owner, team)
    assert as_outsider.get(f"/media/{generation.video.name}").status_code == 404


def test_an_outsiders_search_and_live_updates_find_nothing(as_outsider, owner, team):
    generation = make_generation(owner, team, prompt="confidential storyboard", status=Generation.Status.QUEUED)
    assert shown(gallery(as_outsider, q="confidential")) == []
    live = as_outsider.get(reverse("generations:live_cards"), {"id": [generation.pk], "on": "gallery"}, **HTMX)
    assert "confidential" not in live.content.decode()
    assert live.content.decode().strip() == ""


def test_an_outsiders_bulk_actions_touch_nothing(as_outsider, owner, team):
    generation = finished(owner, team)
    for action in ["favourite", "delete", "download"]:
        as_outsider.post(reverse("generations:bulk"), {"action": action, "ids": [generation.pk], "confirm": "yes"})
    assert Generation.objects.filter(pk=generation.pk).exists()
    assert not Favourite.objects.exists()


def test_the_filters_summary_counts_the_active_filters(as_teammate, owner, team):
    make_generation(owner, team, prompt="anything")
    assert '<span id="filter-count">(0)</span>' in gallery(as_teammate).content.decode()
    three = gallery(as_teammate, q="anything", status="success", favourites="on", duration="").content.decode()
    assert '<span id="filter-count">(3)</span>' in three


def test_a_filter_that_is_not_valid_is_not_counted(as_teammate):
    html = gallery(as_teammate, status="bogus", created_from="2026-05-02", created_to="2026-05-01").content.decode()
    assert '<span id="filter-count">(0)</span>' in html  # a backwards range bounds nothing


def test_changing_a_filter_with_htmx_updates_the_count(as_teammate):
    response = as_teammate.get(
        reverse("generations:gallery"), {"q": "fox", "duration": "5"}, HTTP_HX_TARGET="gallery-results", **HTMX
    )
    assert '<span id="filter-count" hx-swap-oob="true">(2)</span>' in response.content.decode()
