"""A person in Chromium at their team's monthly budget: the form refuses, says why, keeps the
prompt and sends nothing; the owner raises the budget on the usage page, and the video goes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import Team
from generations.billing import Charge
from generations.models import Generation
from tests.conftest import submissions, wait_for
from tests.test_browser import sign_up

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROMPT = "A red balloon drifting over rooftops at dusk"


def test_at_the_budget_the_form_says_so_keeps_the_prompt_and_sends_nothing_until_the_owner_raises_it(
    page, studio_server, studio_api, celery_worker, settings
):
    settings.GMI_PRICES = {"5": Decimal("0.30"), "10": Decimal("0.60")}
    settings.GMI_PRICE_CURRENCY = "$"
    sign_up(page, studio_server, "bea")
    Team.objects.filter(memberships__user__username="bea").update(monthly_budget=Decimal("0.50"))

    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill(PROMPT)
    page.get_by_label("10 seconds").check()
    page.get_by_role("button", name="Generate").click()

    refusal = page.get_by_role("alert")
    expect(refusal).to_contain_text(
        "This 10-second video ($0.60) would go past your team's monthly budget of $0.50 ($0.00 spent this month)."
    )
    expect(refusal).to_contain_text("Nothing was sent.")
    expect(prompt).to_have_value(PROMPT)
    expect(page.get_by_label("10 seconds")).to_be_checked()
    assert not Generation.objects.exists()

    # The owner raises the budget on the usage page (linked from the team page), and tries again.
    page.goto(f"{studio_server.url}/teams/")
    page.get_by_role("link", name="Usage and budget").click()
    expect(page.locator("#budget-status")).to_have_text("Monthly budget $0.50: $0.50 left.")
    page.get_by_label("Monthly budget").fill("5")
    page.get_by_role("button", name="Save budget").click()
    expect(page.locator("#messages")).to_contain_text("is now $5.00")

    page.goto(f"{studio_server.url}/")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_label("10 seconds").check()
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-list .card")).to_have_count(1)
    wait_for(lambda: Charge.objects.filter(amount=Decimal("0.60")).exists(), timeout=30, message="the charge")
    assert submissions(studio_api, PROMPT) == 1  # the refused try sent nothing

    page.goto(f"{studio_server.url}/usage/")
    expect(page.locator("#usage-total")).to_contain_text("$0.60 for 1 video")
    expect(page.locator("#usage-by-member")).to_contain_text("bea")
