"""Two people in one team, in two browsers; a third person on another team."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation
from tests.test_browser import sign_up, sign_up_and_join

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMPT = "A hummingbird sipping from a glowing orchid at dusk"


def test_a_teammate_finds_plays_and_remixes_a_video_an_outsider_cannot_reach(
    open_page, studio_server, studio_api, beat
):
    anna, ben, cora = open_page(), open_page(), open_page()

    sign_up_and_join(anna, ben, studio_server, "anna", "ben")  # Anna invites Ben into her team

    # Anna makes a video in the team.
    anna.goto(studio_server.url)
    anna.get_by_label("Prompt", exact=True).fill(PROMPT)
    anna.get_by_label("1:1 square").check()
    anna.get_by_role("button", name="Generate").click()
    expect(anna.locator("#generation-list .card video")).to_be_visible(timeout=90_000)
    generation = Generation.objects.get(prompt=PROMPT)

    # Ben finds it by searching the gallery, previews it, opens and plays it.
    ben.get_by_role("link", name="Gallery", exact=True).click()
    ben.get_by_label("Search").fill("hummingbird orchid")
    cards = ben.locator("#gallery-grid .gallery-card")
    expect(cards).to_have_count(1)
    shareable = f"{studio_server.url}/gallery/?team={generation.team_id}&q=hummingbird+orchid"
    expect(ben).to_have_url(shareable)  # names the team: it opens for a teammate working in another
    expect(cards.first).to_contain_text("anna")
    cards.first.locator(".gallery-thumb").hover()
    ben.wait_for_function(
        "() => { const v = document.querySelector('.gallery-card video.preview'); return v && !v.paused; }"
    )
    cards.first.locator(".gallery-thumb").click()
    expect(ben.get_by_role("heading", name=f"Generation {generation.pk}")).to_be_visible()
    video = ben.locator("article.detail video")
    ben.wait_for_function("v => v.videoWidth === 720 && v.videoHeight === 720", arg=video.element_handle())
    video.evaluate("v => { v.muted = true; return v.play(); }")
    ben.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video.element_handle())

    # Ben remixes it: the form comes filled in; he makes it longer and sends it.
    ben.get_by_role("link", name="Remix").click()
    expect(ben.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
    expect(ben.get_by_label("1:1 square")).to_be_checked()
    ben.get_by_label("10 seconds").check()
    ben.get_by_role("button", name="Generate").click()
    expect(ben.locator("#generation-list .card").first).to_contain_text(PROMPT[:40])
    remix = Generation.objects.exclude(pk=generation.pk).get()
    assert (remix.prompt, remix.aspect_ratio, remix.duration) == (PROMPT, "1:1", "10")
    assert remix.team_id == generation.team_id and remix.created_by.username == "ben"

    # Cora, on her own team, can neither open it nor find it.
    sign_up(cora, studio_server, "cora")
    response = cora.goto(f"{studio_server.url}/generations/{generation.pk}/")
    assert response.status == 404
    assert cora.request.get(f"{studio_server.url}/generations/{generation.pk}/video.mp4").status == 404
    cora.goto(f"{studio_server.url}/gallery/?q=hummingbird")
    expect(cora.locator("#gallery-grid .gallery-card")).to_have_count(0)
