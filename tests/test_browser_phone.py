"""A phone, 390 px wide: every page fits without sideways scrolling, also for a person in
three teams with 80-character names; the top bar folds into a menu that keeps the team
switcher usable; the gallery's filters fold behind "Filters (N)"; a tap plays a preview."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from playwright.sync_api import expect

from accounts.models import Membership, Team
from generations.models import Generation, ShareLink
from tests.factories import make_generation
from tests.test_browser_sharing import finished_video

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 390, "height": 844}}
TOUCH_PHONE = {**PHONE, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
PASSWORD = "correct horse battery staple"
TEAM_NAMES = [  # 80 characters each; the last has nowhere to break
    "The Northern Lights Documentary Collective for Long and Short Form Video, Stills and Sound"[:80],
    "Harbourside Animation, Motion Graphics and Title Sequence Studio of the West Coast of Norway"[:80],
    ("Wunderkammer" * 7)[:80],
]
PAGES = ["sign-up", "log-in", "create", "gallery", "detail", "team", "share", "404"]


def crowded_person():
    """Noor, in three teams with 80-character names, with a gallery of every kind of card."""
    assert all(len(name) == 80 for name in TEAM_NAMES)
    noor = get_user_model().objects.create_user("noor", password=PASSWORD)
    team = Team.objects.for_user(noor).get()
    team.name = TEAM_NAMES[0]
    team.save()
    for name in TEAM_NAMES[1:]:
        Membership.objects.create(team=Team.objects.create(name=name), user=noor)
    team.create_invite(created_by=noor)
    finished = make_generation(noor, team, prompt="A fox " * 80, status=Generation.Status.SUCCESS)
    finished.video.save("video.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42"), save=False)
    finished.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff"), save=False)
    finished.save()
    make_generation(noor, team, prompt="A-very-long-unbroken-word-" * 20, status=Generation.Status.PROCESSING)
    make_generation(noor, team, status=Generation.Status.FAILED, failure_reason="x" * 400)
    link = ShareLink.objects.start(finished, noor)
    return noor, finished, link


def log_in(page, studio_server, username: str = "noor") -> None:
    page.goto(f"{studio_server.url}/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="New video")).to_be_visible()


def assert_fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width} px wide on a 390 px phone"


@pytest.mark.parametrize("name", PAGES)
def test_every_page_fits_a_phone_for_a_person_in_three_teams_with_long_names(open_page, studio_server, name):
    _, finished, link = crowded_person()
    page = open_page(**PHONE)
    logged_out = {"sign-up": "/accounts/signup/", "log-in": "/accounts/login/"}
    if name not in logged_out:
        log_in(page, studio_server)
    path = (
        logged_out.get(name)
        or {
            "create": "/",
            "gallery": "/gallery/",
            "detail": f"/generations/{finished.pk}/",
            "team": "/teams/",
            "share": f"/s/{link.token}/",
            "404": "/generations/999999/",
        }[name]
    )
    response = page.goto(studio_server.url + path)
    assert response.status == (404 if name == "404" else 200)
    if name == "gallery":
        page.locator("#gallery-grid input.select").first.check()  # the bulk bar counts it
        expect(page.locator("#selected-count")).to_have_text("1 selected")
    assert_fits(page)

    menu = page.get_by_role("button", name="Menu")
    if name in logged_out or name == "share":  # the public share page has no navigation
        expect(menu).to_have_count(0)
        return
    # The navigation is folded into the menu; opened, it fits too, long team names and all.
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_label("Team", exact=True)).to_be_visible()
    assert_fits(page)


def test_the_team_switcher_works_from_the_phones_menu(open_page, studio_server):
    crowded_person()
    page = open_page(**PHONE)
    log_in(page, studio_server)
    page.goto(f"{studio_server.url}/gallery/")
    menu = page.get_by_role("button", name="Menu")
    menu.focus()
    page.keyboard.press("Enter")  # keyboard users open it too
    switcher = page.get_by_label("Team", exact=True)
    box = switcher.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390
    switcher.select_option(label=TEAM_NAMES[1])
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{TEAM_NAMES[1]} · Gallery")
    assert_fits(page)
    page.get_by_role("button", name="Menu").click()
    page.keyboard.press("Escape")  # closes the menu, focus back on its button
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_be_focused()


def test_the_gallery_filters_fold_behind_a_count_of_the_active_ones(open_page, studio_server):
    crowded_person()
    page = open_page(**PHONE)
    log_in(page, studio_server)
    page.goto(f"{studio_server.url}/gallery/?status=success&duration=5")
    toggle = page.locator("summary.filters-toggle")
    expect(toggle).to_have_text("Filters (2)")
    expect(page.get_by_label("Status")).to_be_hidden()
    expect(page.locator("#gallery-grid .gallery-card")).to_have_count(1)  # the results come first
    toggle.click()
    page.get_by_label("Aspect ratio").select_option("16:9")
    expect(toggle).to_have_text("Filters (3)")  # counted again when htmx swaps the results
    assert_fits(page)


def test_the_filters_stay_open_on_a_desktop(open_page, studio_server):
    crowded_person()
    page = open_page(viewport={"width": 1280, "height": 800})
    log_in(page, studio_server)
    page.goto(f"{studio_server.url}/gallery/")
    expect(page.get_by_label("Status")).to_be_visible()
    expect(page.locator("summary.filters-toggle")).to_be_hidden()
    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1280


def test_a_tap_plays_a_cards_preview_and_a_second_tap_opens_the_video(open_page, studio_server, tmp_path):
    noor = get_user_model().objects.create_user("noor", password=PASSWORD)
    generation = finished_video(noor, tmp_path)
    page = open_page(**TOUCH_PHONE)
    log_in(page, studio_server)
    page.goto(f"{studio_server.url}/gallery/")
    thumb = page.locator(f"#gallery-card-{generation.pk} .gallery-thumb")
    thumb.tap()
    preview = page.locator(f"#gallery-card-{generation.pk} video.preview")
    page.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=preview.element_handle())
    assert page.url == f"{studio_server.url}/gallery/"  # the first tap played it and opened nothing
    thumb.tap()
    expect(page.get_by_role("heading", name=f"Generation {generation.pk}")).to_be_visible()
