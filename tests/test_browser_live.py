"""Live pages in Chromium: status changes arrive through the event stream, and when the
stream is cut, one poller per page carries on until it is back."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from generations import live
from generations.models import Generation
from tests.factories import make_generation
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVENTS = "**/live/events/"


def record_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def polls(seen: list[str]) -> list[str]:
    """Requests of the page's one fallback poller."""
    return [url for url in seen if "/live/?" in url]


def open_and_listening(page) -> None:
    """Reload the page and wait until its stream is open and the catch-up it makes then has
    been swapped in (an event that came during that swap would be for a card on its way out)."""
    with page.expect_response(lambda response: "/live/?" in response.url):
        page.reload()
    expect(page.locator("html")).to_have_attribute("data-live", "stream")
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def generate(page, prompt: str):
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    card = page.locator("#generation-list .card").first
    expect(card).to_contain_text(prompt)
    return card


def test_a_card_changes_through_the_event_stream_in_every_open_page(open_page, studio_server, studio_api, beat):
    studio = open_page()
    gallery = open_page(tab_of=studio)
    seen = record_requests(studio)
    sign_up(studio, studio_server, "eve")
    expect(studio.locator("html")).to_have_attribute("data-live", "stream")
    gallery.goto(f"{studio_server.url}/gallery/")
    expect(gallery.locator("html")).to_have_attribute("data-live", "stream")

    card = generate(studio, "A kite over the dunes at noon")
    gallery.reload()  # the gallery now lists it, still unfinished
    gallery_card = gallery.locator(".gallery-card").first
    expect(gallery_card.locator(".badge")).not_to_have_text("Done")
    expect(card.locator("video")).to_be_visible(timeout=60_000)
    expect(card.locator(".badge")).to_have_text("Done")
    expect(gallery_card.locator(".badge")).to_have_text("Done", timeout=10_000)  # the other page heard it too
    assert polls(seen) == []  # the stream carried every change: the fallback poller never ran
    assert any("/card/?on=studio" in url for url in seen)


def test_when_the_stream_is_cut_one_poller_keeps_the_page_live_until_it_is_back(
    page, studio_server, studio_api, beat, monkeypatch
):
    monkeypatch.setattr(live, "STREAM_LIFETIME", 2.0)  # streams end soon, and the browser reconnects
    seen = record_requests(page)
    sign_up(page, studio_server, "frank")
    expect(page.locator("html")).to_have_attribute("data-live", "stream")
    page.route(EVENTS, lambda route: route.abort())  # from now on the stream cannot be reached
    expect(page.locator("html")).to_have_attribute("data-live", "polling", timeout=10_000)

    card = generate(page, "A lighthouse in a storm")
    expect(card.locator("video")).to_be_visible(timeout=60_000)
    expect(card.locator(".badge")).to_have_text("Done")
    fallback = polls(seen)
    assert fallback  # the page kept itself up to date by polling
    generation_id = card.get_attribute("id").removeprefix("generation-")
    assert all(f"id={generation_id}" in url for url in fallback)  # one request for every unfinished card
    assert len([url for url in seen if "/card/" in url]) <= 2  # cards do not poll one by one

    page.unroute(EVENTS)
    expect(page.locator("html")).to_have_attribute("data-live", "stream", timeout=70_000)
    quiet_from = len(polls(seen))
    card = generate(page, "A second lighthouse, in calm weather")
    expect(card.locator("video")).to_be_visible(timeout=60_000)
    assert len(polls(seen)) - quiet_from <= 1  # back on the stream: at most the one catch-up when it reopened


def test_the_content_security_policy_refuses_an_inline_script_and_the_refusal_is_seen(browser, studio_server):
    context = browser.new_context()  # not `open_page`, which fails any test that breaks the policy
    page = context.new_page()
    said: list[str] = []
    page.on("console", lambda message: said.append(message.text))
    page.goto(f"{studio_server.url}/accounts/login/")
    inline = "s = document.createElement('script'); s.textContent = 'window.ran = 1'; document.body.append(s)"
    page.evaluate(f"() => {{ const {inline}; }}")
    assert page.evaluate("window.ran") is None
    assert any("Content Security Policy" in text for text in said)  # what `open_page` looks for
    context.close()


def test_news_that_comes_while_a_card_is_being_fetched_is_not_lost(page, studio_server):
    """Two changes in quick succession: the card's fetch for the first is still on its way when
    the second's event comes. htmx queues the fetch for it on the card that the answer then
    replaces, and drops it; the page sees the card is older than its news and fetches it again."""
    sign_up(page, studio_server, "lena")
    generation = make_generation(
        get_user_model().objects.get(username="lena"), status=Generation.Status.QUEUED, prompt="A lantern on a lake"
    )
    open_and_listening(page)
    card = page.locator(f"#generation-{generation.pk}")
    expect(card.locator(".badge")).to_have_text("Queued")

    held, fetched_after = [], []  # the first fetch's answer, read from the studio at once, given to the page later

    def hold_the_first(route):
        if held:
            fetched_after.append(route.request.url)
            route.continue_()
        else:
            held.append((route, route.fetch()))

    page.route(f"**/generations/{generation.pk}/card/*", hold_the_first)
    Generation.objects.filter(pk=generation.pk).update(status=Generation.Status.PROCESSING)
    live.announce(generation)
    while not held:
        page.wait_for_timeout(50)
    generation.refresh_from_db()
    generation.fail("The service reported a failure: content moderation")  # the second news, as a worker would
    page.wait_for_timeout(1500)  # its event arrives while the first fetch is still on its way
    assert not fetched_after  # htmx queued the card's fetch for it behind the first
    route, answer = held[0]
    route.fulfill(response=answer)

    expect(card.locator(".badge")).to_have_text("Failed")
    assert len(fetched_after) == 1  # once more, and only once
