"""Progress people believe, in Chromium: the estimate on an in-progress card, the tab title that
counts one's own generations in progress and marks one that finished unseen, and a browser
notification (permission granted in the test browser) when one finishes while the tab is hidden.

Status changes come as they do in the studio: the model's transition announces them on Redis,
the page's event stream carries them, and the card fetches itself."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import expect

from generations.models import Generation
from tests.factories import make_generation
from tests.test_browser import sign_up
from tests.test_browser_live import open_and_listening

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The browser's boundary: notifications shown are recorded (and still shown) so that the test
# can see them; the studio's own code runs untouched.
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  class Recorded extends Real {
    constructor(title, options) {
      super(title, options);
      window.__notifications.push({ title, body: options && options.body });
    }
  }
  window.Notification = Recorded;
})();
"""

# A tab in the background, as the page sees it.
HIDE_THE_TAB = """
() => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  document.dispatchEvent(new Event("visibilitychange"));
}
"""
SHOW_THE_TAB = """
() => {
  delete document.hidden;
  delete document.visibilityState;
  document.dispatchEvent(new Event("visibilitychange"));
}
"""


def took(user, seconds: int) -> Generation:
    created = timezone.now() - timedelta(hours=1)
    return make_generation(
        user, duration="5", status=Generation.Status.SUCCESS, created_at=created,
        finished_at=created + timedelta(seconds=seconds),
    )  # fmt: skip


def test_an_in_progress_card_shows_the_time_elapsed_and_the_teams_usual_time(page, studio_server):
    sign_up(page, studio_server, "iris")
    user = get_user_model().objects.get(username="iris")
    for seconds in (110, 125, 140):
        took(user, seconds)
    make_generation(
        user, prompt="A tram in the fog", duration="5", status=Generation.Status.PROCESSING,
        created_at=timezone.now() - timedelta(seconds=30),
    )  # fmt: skip
    page.reload()
    card = page.locator("#generation-list .card", has_text="A tram in the fog")
    expect(card.locator(".estimate")).to_have_text("Usually ready in about 2 min")
    expect(card.locator(".elapsed")).to_have_text(re.compile(r"^\d\d s$"))  # since its creation, 30 s ago
    first = card.locator(".elapsed").inner_text()
    expect(card.locator(".elapsed")).not_to_have_text(first)  # it counts on, without a reload


def test_the_title_counts_ones_own_in_progress_and_a_hidden_tab_is_notified_when_one_finishes(open_page, studio_server):
    page = open_page(permissions=["notifications"])
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    sign_up(page, studio_server, "jude")
    user = get_user_model().objects.get(username="jude")
    first = make_generation(user, prompt="A heron lifting off a misty pond", status=Generation.Status.PROCESSING)
    make_generation(user, prompt="A second heron", status=Generation.Status.QUEUED)
    open_and_listening(page)
    expect(page).to_have_title("(2) Create · Kling Studio")
    expect(page.get_by_text("Notifications on")).to_be_visible()  # permission given: no button to ask
    expect(page.get_by_role("button", name="Notify me when videos finish")).to_be_hidden()

    page.evaluate(HIDE_THE_TAB)
    first.fail("The service reported a failure: content moderation")  # as the worker would
    expect(page.locator(f"#generation-{first.pk} .badge")).to_have_text("Failed")
    expect(page).to_have_title("✓ (1) Create · Kling Studio")
    notifications = page.evaluate("window.__notifications")
    assert len(notifications) == 1
    assert notifications[0]["title"] == "Kling Studio"
    assert notifications[0]["body"].startswith("“A heron lifting off a misty pond” failed: ")

    page.evaluate(SHOW_THE_TAB)
    page.bring_to_front()
    expect(page).to_have_title("(1) Create · Kling Studio")  # looked at: the mark goes


def test_a_visible_tab_is_not_notified_and_permission_is_asked_only_from_the_button(open_page, studio_server):
    page = open_page()  # the permission not given yet
    page.context.add_init_script(RECORD_NOTIFICATIONS)
    sign_up(page, studio_server, "kai")
    user = get_user_model().objects.get(username="kai")
    generation = make_generation(user, prompt="A paper boat in a gutter", status=Generation.Status.PROCESSING)
    open_and_listening(page)
    assert page.evaluate("Notification.permission") == "default"  # loading the page asked nothing
    expect(page.get_by_role("button", name="Notify me when videos finish")).to_be_visible()

    generation.fail("The service reported a failure: content moderation")
    expect(page.locator(f"#generation-{generation.pk} .badge")).to_have_text("Failed")
    expect(page).to_have_title("Create · Kling Studio")
    assert page.evaluate("window.__notifications") == []
