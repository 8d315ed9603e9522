"""A person in Chromium: sign up, ask for a video, watch it arrive, play it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def sign_up(page, studio_server, username: str = "grace") -> None:
    """Create an account through the sign-up form; the person lands on the studio."""
    page.goto(f"{studio_server.url}/accounts/signup/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery staple")
    page.get_by_label("Password confirmation").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="New video")).to_be_visible()


def sign_up_and_join(owner_page, member_page, studio_server, owner: str, member: str) -> None:
    """`owner` signs up and makes an invite link on their team page; `member` signs up and
    joins through it, landing on the studio."""
    sign_up(owner_page, studio_server, owner)
    owner_page.get_by_role("link", name=f"{owner}'s team").click()
    owner_page.get_by_role("button", name="Create invite link").click()
    invite_url = owner_page.get_by_label("Join link").input_value()
    sign_up(member_page, studio_server, member)
    member_page.goto(invite_url)
    member_page.get_by_role("button", name=f"Join {owner}'s team").click()
    expect(member_page.get_by_role("heading", name="New video")).to_be_visible()


def test_a_person_signs_up_generates_a_video_and_plays_it_without_reloading(page, studio_server, studio_api, beat):
    studio_api.configure(processing_seconds=6)  # long enough to see "Processing" on the way
    sign_up(page, studio_server)

    prompt = "A paper lantern drifting over a calm lake at night"
    page.get_by_label("Prompt", exact=True).fill(prompt)
    expect(page.locator("#id_prompt_counter")).to_have_text(f"{len(prompt)} / 2,500 characters")
    page.get_by_label("Negative prompt").fill("blurry")
    page.get_by_label("10 seconds").check()
    page.get_by_label("9:16 portrait").check()
    page.get_by_label("CFG scale").fill("0.7")
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Generate").click()

    card = page.locator("#generation-list .card").first
    expect(card).to_be_visible()
    expect(card.locator(".badge")).to_have_text("Processing", timeout=30_000)
    video = card.locator("video")
    expect(video).to_be_visible(timeout=90_000)
    expect(card.locator(".badge")).to_have_text("Done")
    assert page.evaluate("window.__notReloaded") is True  # no reload happened along the way

    generation = Generation.objects.get()
    assert generation.duration == "10" and generation.aspect_ratio == "9:16" and generation.cfg_scale == 0.7
    assert video.get_attribute("poster").endswith(f"/generations/{generation.pk}/thumbnail.jpg")
    page.wait_for_function("v => v.readyState >= 1 && v.videoWidth > 0", arg=video.element_handle(), timeout=30_000)
    size = video.evaluate("v => [v.videoWidth, v.videoHeight, v.duration]")
    assert size[:2] == [720, 1280]
    assert size[2] == pytest.approx(10, abs=0.1)
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video.element_handle(), timeout=30_000)


def test_an_over_long_prompt_shows_a_clear_error_and_keeps_the_text(page, studio_server, studio_api):
    sign_up(page, studio_server, "linus")
    long_prompt = "A slow dolly shot through a rain-soaked neon market. " * 50  # 2,650 characters
    page.get_by_label("Prompt", exact=True).fill(long_prompt)
    expect(page.locator("#id_prompt_counter")).to_have_text("2,650 / 2,500 characters")
    expect(page.locator("#id_prompt_counter")).to_have_class("counter over")
    page.get_by_role("button", name="Generate").click()

    expect(page.locator("#id_prompt_error")).to_have_text("The prompt is 2,650 characters long; the limit is 2,500.")
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(long_prompt)
    assert not Generation.objects.exists()
