"""Accessibility in Chromium: axe-core finds nothing serious or critical on the studio's pages,
in the dark and the light scheme; one polite live region per page, which says when a card
finishes; a skip link; after an htmx swap the focus goes somewhere sensible, never to the body."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts.models import Invite, Team
from generations.models import Generation
from generations.sharing import ShareLink
from tests.factories import make_generation
from tests.test_browser import sign_up
from tests.test_browser_live import open_and_listening
from tests.test_browser_sharing import finished_video

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SERIOUS = {"serious", "critical"}
LIVE_REGIONS = "[aria-live=polite], [role=status]"
FOCUSABLE = "a[href], button:not([hidden]), input:not([type=hidden]), select, textarea, [tabindex='0']"
FOCUSED_ID = "document.activeElement && document.activeElement.id"


def axe_findings(page) -> tuple[list[str], list[str]]:
    """What axe-core (the one axe-playwright-python pins) reports: the serious or critical
    violations, and the others, one line each."""
    violations = Axe().run(page).response["violations"]

    def line(violation: dict) -> str:
        targets = [node["target"] for node in violation["nodes"]][:5]
        return f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}"

    serious = [line(v) for v in violations if v["impact"] in SERIOUS]
    others = [line(v) for v in violations if v["impact"] not in SERIOUS]
    return serious, others


def studio_pages(username: str, tmp_path) -> dict[str, str]:
    """One of each page the issue names, for a person with a finished video (shared), an
    unfinished one, a failed one, and an invite link on the team page."""
    user = get_user_model().objects.get(username=username)
    done = finished_video(user, tmp_path)
    make_generation(user, status=Generation.Status.PROCESSING, prompt="A heron waiting in the reeds")
    make_generation(user, status=Generation.Status.FAILED, prompt="A storm", failure_reason="content moderation")
    link = ShareLink.objects.start(done, user)
    Invite.objects.create(team=Team.objects.for_user(user).get(), created_by=user)
    return {
        "create": "/",
        "gallery": "/gallery/",
        "detail": f"/generations/{done.pk}/",
        "team": "/teams/",
        "share": f"/s/{link.token}/",
        "usage": "/usage/",
        "email address": "/accounts/email/",
    }


PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}


@pytest.mark.parametrize(
    ("scheme", "device"), [("dark", {}), ("light", {}), ("dark", PHONE)], ids=["dark", "light", "phone"]
)
def test_axe_finds_nothing_serious_or_critical_on_any_page(open_page, studio_server, tmp_path, scheme, device):
    page = open_page(**device)
    page.emulate_media(color_scheme=scheme)
    found: dict[str, tuple[list[str], list[str]]] = {}
    for name, path in [("sign-up", "/accounts/signup/"), ("log-in", "/accounts/login/")]:
        page.goto(f"{studio_server.url}{path}")
        found[name] = axe_findings(page)
    page.get_by_role("button", name="Log in").click()  # empty: the errors are on the page
    found["log-in with errors"] = axe_findings(page)
    sign_up(page, studio_server, "ada")
    for name, path in studio_pages("ada", tmp_path).items():
        page.goto(f"{studio_server.url}{path}")
        expect(page.locator("#live-region")).to_have_count(1)
        found[name] = axe_findings(page)
    page.goto(studio_server.url)
    page.get_by_role("button", name="Generate").click()  # no prompt: the form comes back with its error
    expect(page.locator("#id_prompt_error")).to_be_visible()
    found["create with errors"] = axe_findings(page)

    serious = {name: lines[0] for name, lines in found.items() if lines[0]}
    others = {name: lines[1] for name, lines in found.items() if lines[1]}
    assert len(found) == 11
    assert not serious, f"axe-core, {scheme} scheme: {serious}; and less serious: {others}"


def test_every_page_has_one_polite_live_region_and_a_skip_link_to_its_content(open_page, studio_server, tmp_path):
    page = open_page()
    page.goto(f"{studio_server.url}/accounts/login/")
    paths = ["/accounts/login/", "/accounts/signup/"]
    sign_up(page, studio_server, "bea")
    paths += list(studio_pages("bea", tmp_path).values())
    for path in paths:
        page.goto(f"{studio_server.url}{path}")
        assert page.locator(LIVE_REGIONS).count() == 1, path
        assert page.locator("#live-region").get_attribute("aria-live") == "polite"
        first = page.evaluate(f"document.querySelector({FOCUSABLE!r}).textContent")
        assert first == "Skip to content", path  # the first stop of the Tab key
        skip = page.get_by_role("link", name="Skip to content")
        expect(skip).not_to_be_in_viewport()
        skip.focus()
        expect(skip).to_be_in_viewport()  # seen when it has the focus
        page.keyboard.press("Enter")
        assert page.evaluate(FOCUSED_ID) == "main", path


def test_the_live_region_says_when_a_card_finishes(page, studio_server):
    sign_up(page, studio_server, "cleo")
    user = get_user_model().objects.get(username="cleo")
    generation = make_generation(user, status=Generation.Status.PROCESSING, prompt="A fox crossing a frozen river")
    open_and_listening(page)
    region = page.locator("#live-region")
    expect(region).to_have_text("")

    generation.fail("The service reported a failure: content moderation")  # as the worker would
    card = page.locator(f"#generation-{generation.pk}")
    expect(card.locator(".badge")).to_have_text("Failed")
    headline = card.locator(".reason strong").inner_text()
    expect(region).to_have_text(f"“A fox crossing a frozen river” failed: {headline}")
    assert page.locator(LIVE_REGIONS).count() == 1  # the card brought no region of its own


def test_after_a_refused_submit_the_focus_is_on_the_invalid_field_described_by_its_error(page, studio_server):
    sign_up(page, studio_server, "dina")
    page.get_by_label("Prompt", exact=True).fill("   ")
    page.get_by_role("button", name="Generate").click()
    error = page.locator("#generation-form .has-error .field-error").first
    expect(error).to_be_visible()
    prompt = page.get_by_label("Prompt", exact=True)
    expect(prompt).to_be_focused()
    assert prompt.get_attribute("aria-invalid") == "true"
    described_by = prompt.get_attribute("aria-describedby").split()
    assert error.get_attribute("id") in described_by
    assert "id_prompt_counter" in described_by  # the counter is read with the field, not as a live region


def test_after_a_swap_of_the_focused_control_the_focus_stays_on_what_replaced_it(page, studio_server, tmp_path):
    sign_up(page, studio_server, "edda")
    done = finished_video(get_user_model().objects.get(username="edda"), tmp_path)
    page.goto(f"{studio_server.url}/generations/{done.pk}/")

    page.get_by_role("button", name="Share", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Public link")).to_be_visible()
    expect(page.locator("#share-control :focus")).to_have_count(1)  # inside the new control, not the body
    page.get_by_role("button", name="Stop sharing").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Share", exact=True)).to_be_focused()

    page.get_by_role("button", name="☆ Favourite").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="★ Favourite")).to_be_focused()


def test_after_cancelling_from_a_card_the_focus_is_on_the_cancelled_card(page, studio_server):
    sign_up(page, studio_server, "fern")
    user = get_user_model().objects.get(username="fern")
    waiting = make_generation(user, prompt="A kettle coming to the boil")  # waiting to be sent: nothing is queued
    open_and_listening(page)
    card = page.locator(f"#generation-{waiting.pk}")
    card.get_by_role("button", name="Cancel").focus()
    page.keyboard.press("Enter")
    expect(card.locator(".badge")).to_have_text("Cancelled")
    expect(card).to_be_focused()  # the card that replaced the one with the button, read out as a whole
    expect(page.locator("#live-region")).to_have_text("“A kettle coming to the boil” was cancelled")
