"""A member shares a video from its detail page; a stranger without an account plays it;
the member stops sharing and the stranger's link is dead."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.files import File
from playwright.sync_api import expect

from generations.models import Generation, ShareLink
from gmi_emulator.render import render_video
from tests.factories import make_generation
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMPT = "A red kite rising over green hills at sunrise"


def finished_video(user, tmp_path) -> Generation:
    """A finished generation whose files are a real MP4 and JPEG, as the service renders them."""
    generation = make_generation(user, status=Generation.Status.SUCCESS, prompt=PROMPT, aspect_ratio="16:9")
    video, thumbnail = tmp_path / "video.mp4", tmp_path / "thumbnail.jpg"
    render_video(generation.parameters.as_payload(), str(video), str(thumbnail))
    with video.open("rb") as v, thumbnail.open("rb") as t:
        generation.video.save("video.mp4", File(v), save=False)
        generation.thumbnail.save("thumbnail.jpg", File(t), save=False)
    generation.save()
    return generation


def test_a_stranger_plays_a_shared_video_until_the_member_stops_sharing(open_page, studio_server, tmp_path):
    member, stranger = open_page(), open_page()
    sign_up(member, studio_server, "maria")
    generation = finished_video(get_user_model().objects.get(username="maria"), tmp_path)

    # Maria shares it from the detail page: one click, and the link is there to copy.
    member.goto(f"{studio_server.url}/generations/{generation.pk}/")
    member.get_by_role("button", name="Share", exact=True).click()
    link_field = member.get_by_label("Public link")
    expect(link_field).to_have_value(re.compile(rf"^{re.escape(studio_server.url)}/s/[A-Za-z0-9_-]{{32}}/$"))
    expect(member.get_by_role("button", name="Copy link")).to_be_visible()
    link = link_field.input_value()
    assert ShareLink.objects.live().get().token in link

    # A stranger, logged out, opens it: the player plays; the page unfurls with OpenGraph tags.
    answer = stranger.goto(link)
    assert answer.status == 200
    expect(stranger.get_by_text(PROMPT)).to_be_visible()
    og_video = stranger.locator('meta[property="og:video"]').get_attribute("content")
    assert og_video == f"{link}video"
    video = stranger.locator("video")
    assert video.get_attribute("poster") == f"{link}thumbnail"
    stranger.wait_for_function("v => v.readyState >= 1 && v.videoWidth > 0", arg=video.element_handle())
    assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [1280, 720]
    video.evaluate("v => { v.muted = true; return v.play(); }")
    stranger.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video.element_handle())
    assert stranger.request.get(f"{link}thumbnail").status == 200
    assert stranger.request.get(f"{studio_server.url}/gallery/").url.startswith(f"{studio_server.url}/accounts/login/")

    # Maria stops sharing: at once the page and its files are gone for the stranger.
    member.get_by_role("button", name="Stop sharing").click()
    expect(member.get_by_role("button", name="Share", exact=True)).to_be_visible()
    expect(member.get_by_text("The link no longer works.")).to_be_visible()
    assert stranger.reload().status == 404
    assert stranger.request.get(f"{link}video").status == 404
    assert stranger.request.get(f"{link}thumbnail").status == 404

    # The team page records both.
    member.get_by_role("link", name="maria's team").click()
    row = member.locator("table.shares tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(PROMPT[:40])
    expect(row.locator("td").nth(1)).to_contain_text("by maria")
    expect(row.locator("td").nth(2)).to_contain_text("by maria")
