"""Iterating on a prompt in Chromium: Ctrl+Enter sends once, the prompt stays, the card shows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generations.models import Generation
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMPT = "A kite over a windy beach, seen from below"

# Two presses in the same task of the page: the second comes while the first is in flight.
PRESS_TWICE_AT_ONCE = """field => {
    const press = {key: "Enter", ctrlKey: true, bubbles: true, cancelable: true};
    for (let n = 0; n < 2; n++) field.dispatchEvent(new KeyboardEvent("keydown", press));
}"""


def sent_and_settled(page, generation_count: int) -> None:
    """Wait until the form came back for the newest generation and nothing is in flight."""
    newest = Generation.objects.latest("pk") if generation_count else None
    assert Generation.objects.count() == generation_count
    expect(page.locator(f'#generation-form[data-sent="{newest.pk}"]')).to_be_attached()
    expect(page.locator("#generation-form.htmx-request")).to_have_count(0)


def test_ctrl_enter_sends_once_keeps_the_prompt_in_hand_and_shows_the_new_card(page, studio_server, studio_api, beat):
    page.set_viewport_size({"width": 390, "height": 844})  # one column: the list is below the form
    sign_up(page, studio_server, "iris")
    expect(page.get_by_text("or Ctrl+Enter in the prompt")).to_be_visible()  # hidden without JavaScript
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(PROMPT)
    page.get_by_label("9:16 portrait").check()
    prompt.focus()

    page.keyboard.down("Control")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # pressed twice quickly
    page.keyboard.up("Control")
    expect(page.locator("#generation-form[data-sent]")).to_be_attached()
    sent_and_settled(page, 1)

    generation = Generation.objects.get()
    assert (generation.prompt, generation.aspect_ratio) == (PROMPT, "9:16")
    expect(prompt).to_have_value(PROMPT)  # still there to edit
    expect(page.get_by_label("9:16 portrait")).to_be_checked()
    expect(prompt).to_be_focused()
    card = page.locator(f"#generation-{generation.pk}")
    expect(card).to_be_in_viewport()

    # One small edit, and again: two presses in the same instant still make one generation.
    prompt.press("End")
    prompt.type(", at sunset")
    prompt.evaluate(PRESS_TWICE_AT_ONCE)
    expect(page.locator(f'#generation-form[data-sent]:not([data-sent="{generation.pk}"])')).to_be_attached()
    sent_and_settled(page, 2)
    assert Generation.objects.latest("pk").prompt == PROMPT + ", at sunset"
    expect(prompt).to_be_focused()
    expect(page.locator("#generation-list .card")).to_have_count(2)

    # A click on Generate also sends: the shortcut is an addition, not the only way.
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-list .card")).to_have_count(3)
    expect(prompt).to_be_focused()
    expect(prompt).to_have_value(PROMPT + ", at sunset")
    expect(page.get_by_text("or Ctrl+Enter in the prompt")).to_be_visible()  # also in the swapped form
    assert Generation.objects.count() == 3
