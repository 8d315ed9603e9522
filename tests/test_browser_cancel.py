"""A person in Chromium cancels a video that is being made."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation
from tests.conftest import wait_for
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_cancelling_a_processing_generation_from_the_create_page_shows_it_cancelled_without_reloading(
    page, studio_server, studio_api, beat
):
    studio_api.configure(processing_seconds=120)  # it would take two minutes
    sign_up(page, studio_server, "ines")
    page.get_by_label("Prompt", exact=True).fill("A snail crossing a garden path at dawn")
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("button", name="Generate").click()

    card = page.locator("#generation-list .card").first
    expect(card.locator(".badge")).to_have_text("Processing", timeout=30_000)
    card.get_by_role("button", name="Cancel").click()

    expect(card.locator(".badge")).to_have_text("Cancelled")
    expect(card.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#messages")).to_contain_text("Cancelled. The studio no longer follows it.")
    # The service's answer arrives through the page's event stream.
    expect(card.locator(".reason")).to_contain_text("The video service stopped it.", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True

    generation = Generation.objects.get()
    assert generation.status == Generation.Status.CANCELLED
    wait_for(lambda: studio_api.state()["requests"][generation.request_id] == "cancelled", timeout=10)


def test_cancelling_from_a_gallery_card_shows_it_cancelled_and_the_service_is_asked_to_stop(
    page, studio_server, studio_api, beat
):
    studio_api.configure(processing_seconds=120)
    sign_up(page, studio_server, "ilse")
    page.get_by_label("Prompt", exact=True).fill("A heron waiting in the reeds at dusk")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-list .card .badge").first).to_have_text("Processing", timeout=30_000)

    page.get_by_role("link", name="Gallery", exact=True).click()
    generation = Generation.objects.get()
    card = page.locator(f"#gallery-card-{generation.pk}")
    expect(card.locator(".badge")).to_have_text("Processing")
    page.evaluate("window.__notReloaded = true")
    card.get_by_role("button", name="Cancel").click()

    expect(card.locator(".badge")).to_have_text("Cancelled")
    expect(card.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.locator("#messages")).to_contain_text("Cancelled. The studio no longer follows it.")
    assert page.evaluate("window.__notReloaded") is True
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    wait_for(lambda: studio_api.state()["requests"][generation.request_id] == "cancelled", timeout=10)
