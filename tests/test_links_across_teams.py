"""Links across one's own teams: a generation, its files or a gallery of another of the
person's teams switches them there at once, with a notice; outsiders get the same 404
as an id that does not exist."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.middleware import SESSION_KEY
from accounts.models import Team
from generations.models import Generation
from tests.factories import make_generation
from tests.people import log_in_working_in

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
NOTICE = "Switched to team Harbour Films to show this."


@pytest.fixture
def harbour(team) -> Team:
    """Olivia's Harbour Films, where Tomas is a member while working in a team of his own."""
    return team


@pytest.fixture
def own_team(teammate) -> Team:
    return Team.objects.for_user(teammate).exclude(name="Harbour Films").get()


@pytest.fixture
def as_teammate(client, teammate, own_team):
    return log_in_working_in(client, teammate, own_team)


@pytest.fixture
def as_outsider(client, outsider):
    client.force_login(outsider)
    return client


@pytest.fixture
def video(owner, harbour) -> Generation:
    generation = make_generation(owner, harbour, prompt="A lighthouse in a storm", status=Generation.Status.SUCCESS)
    generation.video.save("video.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42" + b"v" * 500), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff" + b"t" * 100), save=False)
    generation.save()
    return generation


def current_team_id(client) -> int:
    return client.session[SESSION_KEY]


def without_tokens(response) -> str:
    """The page with its CSRF tokens blanked (each response masks the token afresh)."""
    return re.sub(r'("X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]+', r"\1", response.content.decode())


def notices(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# A generation's page


def test_it_switches_a_member_of_both_teams_to_the_generations_team_with_a_notice(as_teammate, video, harbour):
    response = as_teammate.get(reverse("generations:detail", args=[video.pk]))
    assert response.status_code == 200
    assert f"Generation {video.pk}" in response.content.decode()
    assert NOTICE in response.content.decode()
    assert current_team_id(as_teammate) == harbour.pk
    assert response.context["current_team"] == harbour  # the top bar shows the new team


def test_it_says_nothing_when_the_generation_is_in_the_current_team(client, owner, video):
    client.force_login(owner)
    response = client.get(reverse("generations:detail", args=[video.pk]))
    assert response.status_code == 200
    assert notices(response) == []


def test_it_switches_for_a_remix_too(as_teammate, video, harbour):
    response = as_teammate.get(reverse("generations:remix", args=[video.pk]))
    assert response.status_code == 200
    assert NOTICE in response.content.decode()
    assert current_team_id(as_teammate) == harbour.pk


def test_an_outsider_gets_the_same_404_as_for_an_id_that_does_not_exist(as_outsider, video):
    theirs = as_outsider.get(reverse("generations:detail", args=[video.pk]))
    missing = as_outsider.get(reverse("generations:detail", args=[video.pk + 1000]))
    assert theirs.status_code == missing.status_code == 404
    assert without_tokens(theirs) == without_tokens(missing)


@pytest.mark.parametrize("name", ["cancel", "favourite", "share", "retry"])
def test_acting_on_another_teams_generation_never_switches(as_teammate, video, own_team, name):
    """Buttons act within the page's team; only opening a link switches."""
    response = as_teammate.post(reverse(f"generations:{name}", args=[video.pk]))
    assert response.status_code == 404
    assert current_team_id(as_teammate) == own_team.pk


# Its files


@pytest.mark.parametrize("name", ["video", "thumbnail", "download"])
def test_a_file_opened_as_a_page_switches_the_team(as_teammate, video, harbour, name):
    response = as_teammate.get(reverse(f"generations:{name}", args=[video.pk]), HTTP_SEC_FETCH_DEST="document")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith((b"\x00\x00\x00\x18ftyp", b"\xff\xd8\xff"))
    assert current_team_id(as_teammate) == harbour.pk
    # The notice waits for the next page.
    assert NOTICE in as_teammate.get(reverse("generations:create")).content.decode()


@pytest.mark.parametrize("name, destination", [("video", "video"), ("thumbnail", "image"), ("download", "empty")])
def test_a_file_loaded_into_a_page_is_served_without_switching(as_teammate, video, own_team, name, destination):
    response = as_teammate.get(reverse(f"generations:{name}", args=[video.pk]), HTTP_SEC_FETCH_DEST=destination)
    assert response.status_code == 200
    assert current_team_id(as_teammate) == own_team.pk
    assert NOTICE not in as_teammate.get(reverse("generations:create")).content.decode()


@pytest.mark.parametrize("name", ["video", "thumbnail", "download"])
@pytest.mark.parametrize("destination", ["document", "video", None])
def test_an_outsider_gets_404_for_every_file(as_outsider, video, name, destination):
    headers = {"HTTP_SEC_FETCH_DEST": destination} if destination else {}
    assert as_outsider.get(reverse(f"generations:{name}", args=[video.pk]), **headers).status_code == 404


# A gallery


def test_a_gallery_link_naming_another_of_ones_teams_switches_to_it(as_teammate, video, harbour):
    response = as_teammate.get(reverse("generations:gallery"), {"team": harbour.pk, "q": "lighthouse"})
    assert response.status_code == 200
    assert [generation.pk for generation in response.context["page"].items] == [video.pk]
    assert NOTICE in response.content.decode()
    assert current_team_id(as_teammate) == harbour.pk


def test_a_gallery_link_without_a_team_shows_the_current_team(as_teammate, video, own_team):
    response = as_teammate.get(reverse("generations:gallery"), {"q": "lighthouse"})
    assert response.context["page"].items == []
    assert current_team_id(as_teammate) == own_team.pk


def test_a_gallery_link_of_a_team_one_is_not_in_is_404(as_outsider, video, harbour):
    assert as_outsider.get(reverse("generations:gallery"), {"team": harbour.pk}).status_code == 404


@pytest.mark.parametrize("value", ["abc", "-1", "1.0", " 1", "\u0661", "9" * 19, "9" * 5000, "0x1"])
def test_a_malformed_team_in_a_gallery_link_is_404(as_teammate, value):
    assert as_teammate.get(reverse("generations:gallery"), {"team": value}).status_code == 404


def test_the_gallerys_links_name_their_team(as_teammate, owner, harbour):
    for number in range(30):
        make_generation(owner, harbour, prompt=f"clip {number}")
    page = as_teammate.get(reverse("generations:gallery"), {"team": harbour.pk}).content.decode()
    assert f'<input type="hidden" name="team" value="{harbour.pk}">' in page
    assert f"?team={harbour.pk}&amp;cursor=" in page  # the next page
    response = as_teammate.get(
        reverse("generations:gallery"), {"team": harbour.pk, "q": "clip"}, HTTP_HX_TARGET="gallery-results", **HTMX
    )
    assert response["HX-Push-Url"] == f"/gallery/?team={harbour.pk}&q=clip"


@pytest.mark.parametrize("extra", [{"HTTP_HX_TARGET": "gallery-results"}, {}])
def test_a_gallery_pages_own_htmx_requests_show_its_team_without_switching(
    as_teammate, video, harbour, own_team, extra
):
    """An open gallery of one team, filtered or scrolled after the person switched to
    another team elsewhere, goes on showing its team and switches nobody."""
    query = {"team": harbour.pk, "q": "lighthouse"} | ({} if extra else {"cursor": "9999999999999999.999"})
    response = as_teammate.get(reverse("generations:gallery"), query, **HTMX, **extra)
    assert [generation.pk for generation in response.context["page"].items] == [video.pk]
    assert current_team_id(as_teammate) == own_team.pk
    assert notices(response) == []
