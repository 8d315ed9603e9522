"""Share links: a member shares a finished video; anyone with the link watches it, until
someone stops sharing; the team page lists who shared what, and who stopped it."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.urls import reverse

from generations.models import Generation, ShareLink
from generations.sharing import SHARED_FILE_LINK_SECONDS
from tests.factories import make_generation

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
VIDEO = b"\x00\x00\x00\x18ftypmp42" + b"v" * 500
THUMBNAIL = b"\xff\xd8\xff" + b"t" * 100


@pytest.fixture
def as_owner(client, owner):
    client.force_login(owner)
    return client


def finished(user, prompt: str = "A lighthouse in a storm, waves crashing", **fields) -> Generation:
    generation = make_generation(user, status=Generation.Status.SUCCESS, prompt=prompt, **fields)
    generation.video.save("video.mp4", ContentFile(VIDEO), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(THUMBNAIL), save=False)
    generation.save()
    return generation


def share_path(link: ShareLink, what: str = "") -> str:
    return f"/s/{link.token}/{what}"


# Sharing, from the detail page.


def test_the_detail_page_offers_a_share_button_that_posts_with_and_without_javascript(as_owner, owner):
    generation = finished(owner)
    page = as_owner.get(reverse("generations:detail", args=[generation.pk])).content.decode()
    share_url = reverse("generations:share", args=[generation.pk])
    assert f'method="post" action="{share_url}"' in page
    assert f'hx-post="{share_url}"' in page
    assert 'id="share-control"' in page and ">Share</button>" in page


def test_sharing_with_htmx_swaps_in_the_absolute_link_with_a_copy_button(as_owner, owner):
    generation = finished(owner)
    answer = as_owner.post(reverse("generations:share", args=[generation.pk]), **HTMX)
    assert answer.status_code == 200
    link = ShareLink.objects.get()
    assert (link.generation, link.created_by, link.revoked_at) == (generation, owner, None)
    assert len(link.token) >= 32 and re.fullmatch(r"[A-Za-z0-9_-]+", link.token)
    html = answer.content.decode()
    assert f'value="http://testserver/s/{link.token}/"' in html
    assert 'data-copy="share-url"' in html and "Stop sharing" in html
    assert "<html" not in html  # only the control, for htmx to swap


def test_sharing_without_javascript_redirects_back_to_the_detail_page_showing_the_link(as_owner, owner):
    generation = finished(owner)
    answer = as_owner.post(reverse("generations:share", args=[generation.pk]), follow=True)
    link = ShareLink.objects.get()
    assert answer.redirect_chain[-1][0] == reverse("generations:detail", args=[generation.pk]) + "#share-control"
    assert f"http://testserver/s/{link.token}/" in answer.content.decode()


def test_sharing_twice_keeps_the_one_working_link(as_owner, owner, teammate, client):
    generation = finished(owner)
    as_owner.post(reverse("generations:share", args=[generation.pk]))
    as_owner.post(reverse("generations:share", args=[generation.pk]))
    assert ShareLink.objects.count() == 1


def test_the_database_keeps_one_working_link_per_video_when_two_people_share_at_once(owner, teammate):
    generation = finished(owner)
    ShareLink.objects.create(generation=generation, created_by=owner)
    with pytest.raises(IntegrityError), transaction.atomic():
        ShareLink.objects.create(generation=generation, created_by=teammate)


def test_a_teammate_may_share_and_stop_sharing_a_video_someone_else_made(client, owner, teammate, team):
    generation = finished(owner)
    client.force_login(teammate)
    session = client.session
    session["team_id"] = team.pk
    session.save()
    client.post(reverse("generations:share", args=[generation.pk]))
    assert ShareLink.objects.get().created_by == teammate
    client.post(reverse("generations:stop_sharing", args=[generation.pk]))
    assert ShareLink.objects.get().revoked_by == teammate


@pytest.mark.parametrize("status", [Generation.Status.PENDING, Generation.Status.PROCESSING, Generation.Status.FAILED])
def test_only_a_finished_video_can_be_shared_and_the_refusal_says_so(as_owner, owner, status):
    generation = make_generation(owner, status=status, prompt="Not done yet")
    answer = as_owner.post(reverse("generations:share", args=[generation.pk]), **HTMX)
    assert answer.status_code == 200
    assert "Only a finished video can be shared" in answer.content.decode()
    assert 'role="alert"' in answer.content.decode()
    answer = as_owner.post(reverse("generations:share", args=[generation.pk]), follow=True)
    assert "Only a finished video can be shared" in answer.content.decode()
    assert not ShareLink.objects.exists()


def test_an_outsider_can_neither_share_nor_stop_sharing_another_teams_video(client, owner, outsider):
    generation = finished(owner)
    link = ShareLink.objects.start(generation, owner)
    client.force_login(outsider)
    assert client.post(reverse("generations:share", args=[generation.pk])).status_code == 404
    assert client.post(reverse("generations:stop_sharing", args=[generation.pk])).status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None and ShareLink.objects.count() == 1


def test_a_logged_out_visitor_cannot_share_or_stop_sharing(client, owner):
    generation = finished(owner)
    ShareLink.objects.start(generation, owner)
    for name in ("share", "stop_sharing"):
        answer = client.post(reverse(f"generations:{name}", args=[generation.pk]))
        assert answer.status_code == 302 and answer["Location"].startswith(reverse("login"))
    assert ShareLink.objects.live().count() == 1


def test_sharing_needs_a_post_with_the_csrf_token(owner):
    from django.test import Client

    generation = finished(owner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(reverse("generations:share", args=[generation.pk])).status_code == 405
    assert client.post(reverse("generations:share", args=[generation.pk])).status_code == 403
    assert not ShareLink.objects.exists()


# The public page and its files.


def test_a_logged_out_visitor_sees_the_player_the_thumbnail_and_the_prompt(client, owner, team):
    generation = finished(owner, prompt="A lighthouse in a storm, waves crashing")
    link = ShareLink.objects.start(generation, owner)
    answer = client.get(share_path(link))
    assert answer.status_code == 200
    html = answer.content.decode()
    assert f'src="http://testserver/s/{link.token}/video"' in html
    assert f'poster="http://testserver/s/{link.token}/thumbnail"' in html
    assert "A lighthouse in a storm, waves crashing" in html
    assert "no-cache" in answer["Cache-Control"]


def test_the_share_page_leaks_nothing_else_of_the_team(client, owner, teammate, team):
    generation = finished(owner, negative_prompt="secret negative words", request_id="req-secret-123")
    link = ShareLink.objects.start(generation, teammate)
    html = client.get(share_path(link)).content.decode()
    for secret in ("Harbour Films", "olivia", "tomas", "@example.com", "secret negative words", "req-secret-123"):
        assert secret not in html
    assert f"/generations/{generation.pk}/" not in html
    assert "csrfmiddlewaretoken" not in html and "<script" not in html and "style=" not in html


def test_the_share_page_carries_opengraph_and_twitter_tags_with_absolute_urls(client, owner):
    generation = finished(owner, aspect_ratio="9:16", prompt="A paper boat on a rainy street")
    link = ShareLink.objects.start(generation, owner)
    html = client.get(share_path(link)).content.decode()
    tags = dict(re.findall(r'<meta (?:property|name)="([^"]+)" content="([^"]*)"', html))
    base = f"http://testserver/s/{link.token}/"
    assert tags["og:title"] == "A paper boat on a rainy street"
    assert tags["og:description"] == "A paper boat on a rainy street"
    assert tags["og:type"] == "video.other"
    assert tags["og:url"] == base
    assert tags["og:image"] == base + "thumbnail"
    assert tags["og:video"] == base + "video"
    assert tags["og:video:type"] == "video/mp4"
    assert (tags["og:video:width"], tags["og:video:height"]) == ("720", "1280")
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:image"] == base + "thumbnail"


def test_behind_tls_the_urls_are_https_and_the_video_has_a_secure_url(client, owner, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    link = ShareLink.objects.start(finished(owner), owner)
    html = client.get(share_path(link), HTTP_X_FORWARDED_PROTO="https", SERVER_PORT="443").content.decode()
    assert f'<meta property="og:video:secure_url" content="https://testserver/s/{link.token}/video">' in html
    assert f'<meta property="og:image" content="https://testserver/s/{link.token}/thumbnail">' in html


def test_the_share_page_sends_the_content_security_policy(client, owner):
    link = ShareLink.objects.start(finished(owner), owner)
    policy = client.get(share_path(link))["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy


def test_a_logged_out_visitor_gets_the_video_and_the_thumbnail_with_ranges(client, owner):
    link = ShareLink.objects.start(finished(owner), owner)
    video = client.get(share_path(link, "video"))
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"".join(video.streaming_content) == VIDEO
    part = client.get(share_path(link, "video"), HTTP_RANGE="bytes=4-11")
    assert part.status_code == 206 and b"".join(part.streaming_content) == b"ftypmp42"
    thumbnail = client.get(share_path(link, "thumbnail"))
    assert thumbnail["Content-Type"] == "image/jpeg" and b"".join(thumbnail.streaming_content) == THUMBNAIL


def test_behind_nginx_the_shared_files_go_through_nginx(client, owner, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    generation = finished(owner)
    link = ShareLink.objects.start(generation, owner)
    answer = client.get(share_path(link, "video"))
    assert answer["X-Accel-Redirect"] == f"/protected-media/{generation.video.name}"


def test_in_a_bucket_the_shared_files_are_short_lived_presigned_links_and_end_with_the_share(
    client, owner, object_storage
):
    generation = finished(owner)
    link = ShareLink.objects.start(generation, owner)
    answer = client.get(share_path(link, "video"))
    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith(f"{object_storage.endpoint_url}/{object_storage.bucket}/{generation.video.name}?")
    assert int(parse_qs(urlsplit(location).query)["X-Amz-Expires"][0]) == SHARED_FILE_LINK_SECONDS
    assert "no-cache" in answer["Cache-Control"]  # the redirect is asked for again, and refused once stopped
    assert requests.get(location, timeout=10).content == VIDEO
    ShareLink.objects.stop(generation, owner)
    for what in ("video", "thumbnail"):
        stopped = client.get(share_path(link, what))
        assert stopped.status_code == 404 and not stopped.has_header("Location")


def test_the_rest_of_the_studio_stays_closed_to_a_visitor_with_a_share_link(client, owner, outsider):
    generation = finished(owner)
    ShareLink.objects.start(generation, owner)
    for name in ("detail", "video", "thumbnail", "download"):
        answer = client.get(reverse(f"generations:{name}", args=[generation.pk]))
        assert answer.status_code == 302  # to the log-in page
    client.force_login(outsider)
    for name in ("detail", "video", "thumbnail", "download"):
        assert client.get(reverse(f"generations:{name}", args=[generation.pk])).status_code == 404


# Stopping.


def test_stopping_ends_the_page_and_its_files_at_once(as_owner, owner, client):
    generation = finished(owner)
    as_owner.post(reverse("generations:share", args=[generation.pk]))
    link = ShareLink.objects.get()
    answer = as_owner.post(reverse("generations:stop_sharing", args=[generation.pk]), **HTMX)
    assert "The link no longer works." in answer.content.decode() and ">Share</button>" in answer.content.decode()
    link.refresh_from_db()
    assert link.revoked_at is not None and link.revoked_by == owner
    as_owner.logout()
    for what in ("", "video", "thumbnail"):
        assert client.get(share_path(link, what)).status_code == 404


def test_sharing_again_after_stopping_makes_a_new_link_and_the_old_stays_dead(as_owner, owner, client):
    generation = finished(owner)
    share = reverse("generations:share", args=[generation.pk])
    as_owner.post(share)
    old = ShareLink.objects.get()
    as_owner.post(reverse("generations:stop_sharing", args=[generation.pk]))
    as_owner.post(share)
    new = ShareLink.objects.live().get()
    assert new.token != old.token
    assert client.get(share_path(old)).status_code == 404
    assert client.get(share_path(new)).status_code == 200


def test_a_deleted_generation_takes_its_share_link_with_it(as_owner, owner, client):
    generation = finished(owner)
    link = ShareLink.objects.start(generation, owner)
    as_owner.post(reverse("generations:delete", args=[generation.pk]))
    assert client.get(share_path(link)).status_code == 404


@pytest.mark.parametrize(
    "path",
    ["/s/not-a-token/", "/s/x/video", "/s/%00/", "/s/a%00b/thumbnail", "/s/" + "a" * 5000 + "/", "/s/ä/", "/s/../"],
)
def test_a_malformed_or_unknown_token_is_not_found(client, owner, path):
    ShareLink.objects.start(finished(owner), owner)
    assert client.get(path).status_code == 404


# The team page.


def test_the_team_page_lists_who_shared_what_and_who_stopped_it(client, owner, teammate, team):
    shared = finished(owner, prompt="A kite over the dunes")
    stopped = finished(owner, prompt="A heron at dawn")
    ShareLink.objects.start(shared, teammate)
    ShareLink.objects.start(stopped, owner)
    ShareLink.objects.stop(stopped, teammate)
    client.force_login(teammate)
    session = client.session
    session["team_id"] = team.pk
    session.save()
    html = client.get(reverse("teams:detail")).content.decode()
    rows = re.findall(r'<tr id="share-\d+">(.*?)</tr>', html, re.S)
    assert len(rows) == 2
    heron, kite = rows  # newest first
    assert "A heron at dawn" in heron and "by olivia" in heron and "by tomas" in heron
    assert "A kite over the dunes" in kite and "by tomas" in kite and "still shared" in kite
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', kite)


def test_the_team_page_lists_only_the_teams_own_shares(client, owner, outsider):
    ShareLink.objects.start(finished(outsider, prompt="Oscar's secret"), outsider)
    client.force_login(owner)
    html = client.get(reverse("teams:detail")).content.decode()
    assert "Oscar's secret" not in html and "Nothing has been shared yet." in html
