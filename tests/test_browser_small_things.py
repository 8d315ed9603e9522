"""The issue's small things in Chromium: the light theme, and the gallery's bulk bar."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from generations.models import Favourite, Generation
from tests.factories import make_generation
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The colours a person reads on the create page: [text, its background] for each element.
COLOURS = """() => {
    const style = selector => getComputedStyle(document.querySelector(selector));
    return {
        body: [style("body").color, style("body").backgroundColor],
        hint: [style(".submit-row .hint").color, style("body").backgroundColor],
        link: [style(".recent-head a").color, style("body").backgroundColor],
        generate: [style("button.primary").color, style("button.primary").backgroundColor],
    };
}"""


def rgb(css: str) -> tuple[int, int, int]:
    return tuple(int(n) for n in re.findall(r"\d+", css)[:3])


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two computed CSS colours."""

    def luminance(colour: str) -> float:
        channels = [c / 255 for c in rgb(colour)]
        r, g, b = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted([luminance(one), luminance(other)], reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_studio_follows_the_systems_light_or_dark_setting_with_readable_contrast(page, studio_server):
    sign_up(page, studio_server, "lena")
    page.emulate_media(color_scheme="dark")
    dark = page.evaluate(COLOURS)
    page.emulate_media(color_scheme="light")
    light = page.evaluate(COLOURS)

    assert rgb(dark["body"][1]) == (15, 17, 21)
    assert rgb(light["body"][1]) == (246, 247, 251)
    assert sum(rgb(light["body"][1])) > sum(rgb(light["body"][0]))  # dark text on a light page
    for theme in (dark, light):
        for name, (text, background) in theme.items():
            assert contrast(text, background) >= 4.5, (name, text, background)


def test_select_all_counts_and_unfavourites_a_selection(page, studio_server):
    sign_up(page, studio_server, "uma")
    uma = get_user_model().objects.get(username="uma")
    made = [make_generation(uma, prompt=f"a lantern, take {n}", status=Generation.Status.FAILED) for n in range(3)]
    for generation in made:
        Favourite.objects.create(user=uma, generation=generation)

    page.get_by_role("link", name="Gallery", exact=True).click()
    count = page.locator("#selected-count")
    select_all = page.get_by_label("Select all")
    expect(count).to_have_text("None selected")
    select_all.check()
    expect(count).to_have_text("3 selected")
    for generation in made:
        expect(page.get_by_label(f"Select generation {generation.pk}")).to_be_checked()
    page.get_by_label(f"Select generation {made[0].pk}").uncheck()
    expect(count).to_have_text("2 selected")
    assert select_all.evaluate("box => box.indeterminate") is True
    select_all.check()
    expect(count).to_have_text("3 selected")

    page.get_by_role("button", name="Unfavourite").click()
    expect(page.get_by_text("Removed 3 from your favourites.")).to_be_visible()
    assert not Favourite.objects.filter(user=uma).exists()
    expect(count).to_have_text("None selected")  # a fresh page: nothing ticked
    expect(page.locator(".gallery-card .fav")).to_have_count(0)
