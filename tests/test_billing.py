"""Cost and budgets: prices, what a generation cost, the usage page, the monthly budget, sign-up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Membership, Team
from generations import billing
from generations.billing import Charge, Month, OverBudget
from generations.models import Generation
from generations.tasks import submit_generation
from kling_studio.localservices import BASE_DIR
from tests.conftest import submissions
from tests.factories import make_generation
from tests.people import PASSWORD
from tests.steps import at_the_same_time
from tests.test_settings import load_settings

pytestmark = pytest.mark.django_db

PROMPT = "A lighthouse in a storm, waves breaking over the rocks"


@pytest.fixture(autouse=True)
def prices(settings):
    settings.GMI_PRICES = {"5": Decimal("0.30"), "10": Decimal("0.60")}
    settings.GMI_PRICE_CURRENCY = "$"


def charged(user, team: Team, duration: str = "5", at=None, amount: str | None = None) -> Charge:
    """A generation the service accepted, with its charge (at `at`, else now)."""
    generation = make_generation(user, team, prompt="charged", duration=duration, status="success", request_id=None)
    made = billing.charge(generation)
    Charge.objects.filter(pk=made.pk).update(
        created_at=at or timezone.now(), **({"amount": Decimal(amount)} if amount else {})
    )
    return made


def set_budget(team: Team, amount: str | None) -> None:
    team.monthly_budget = None if amount is None else Decimal(amount)
    team.save()


def create_form(**fields) -> dict:
    return {
        "prompt": PROMPT,
        "negative_prompt": "",
        "duration": "5",
        "aspect_ratio": "16:9",
        "cfg_scale": "0.5",
    } | fields


# Prices and money


def test_it_writes_amounts_with_the_operators_currency(settings):
    assert billing.money(Decimal("0.3")) == "$0.30"
    assert billing.money(Decimal("1250")) == "$1,250.00"
    assert billing.money(Decimal("0.125")) == "$0.125"  # a price finer than cents is shown as it is
    settings.GMI_PRICE_CURRENCY = "EUR"
    assert billing.money(Decimal("49.6")) == "EUR 49.60"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GMI_PRICE_5S": "cheap"}, "GMI_PRICE_5S must be an amount of 0 or more with at most 4 decimals"),
        ({"GMI_PRICE_10S": "-1"}, "GMI_PRICE_10S must be an amount of 0 or more"),
        ({"GMI_PRICE_10S": "NaN"}, "GMI_PRICE_10S must be an amount of 0 or more"),
        ({"GMI_PRICE_5S": "0.123456"}, "with at most 4 decimals"),
        ({"GMI_PRICE_CURRENCY": ""}, "GMI_PRICE_CURRENCY must be 1 to 5 printable characters"),
        ({"ALLOW_SIGNUP": "maybe"}, "ALLOW_SIGNUP must be True or False, not 'maybe'"),
    ],
)
def test_it_refuses_a_malformed_price_or_signup_setting_at_start(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def read_settings(**env: str) -> list[str]:
    code = "import kling_studio.settings as s; print(s.GMI_PRICES['5'], s.GMI_PRICES['10'], s.ALLOW_SIGNUP)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_prices_come_from_the_environment_and_sign_up_is_closed_by_default_in_production():
    assert read_settings(GMI_PRICE_5S="0.28", GMI_PRICE_10S="0.56", DEBUG="True") == ["0.28", "0.56", "True"]
    assert read_settings(DEBUG="False", SECRET_KEY="x" * 50)[-1] == "False"
    assert read_settings(DEBUG="False", SECRET_KEY="x" * 50, ALLOW_SIGNUP="True")[-1] == "True"


# Months


def test_a_month_is_read_from_its_url_form_and_nothing_else():
    assert Month.parse("2026-11") == Month(2026, 11)
    for text in ("2026-13", "2026-00", "2026-1", "26-11", "２０２６-11", "2026-11-01", "", "1999-12", "x" * 5000):
        assert Month.parse(text) is None
    assert (Month(2026, 12).next, Month(2026, 1).previous) == (Month(2027, 1), Month(2025, 12))
    assert Month(2026, 11).label == "November 2026"
    assert Month(2026, 11).end - Month(2026, 11).start == timedelta(days=30)


# What a generation costs


def test_a_generation_is_charged_once_at_the_price_in_force_when_the_service_accepted_it(owner, team, settings):
    generation = make_generation(owner, team, duration="10")
    first = billing.charge(generation)
    settings.GMI_PRICES = {"5": Decimal("1.00"), "10": Decimal("2.00")}  # the price list changes later
    assert billing.charge(generation) == first  # a second recording changes nothing
    first.refresh_from_db()
    assert (first.amount, first.duration, first.team, first.created_by) == (Decimal("0.60"), "10", team, owner)


def test_a_charge_outlives_its_generation(owner, team):
    made = charged(owner, team)
    made.generation.delete_with_files()
    made.refresh_from_db()
    assert made.generation is None
    assert Charge.objects.for_team(team).in_month(Month.current()).total() == Decimal("0.30")


# The usage figures


def test_usage_adds_up_this_month_by_member_and_by_day(owner, teammate, team, outsider):
    now = timezone.now()
    month = Month.current()
    early = month.start + timedelta(hours=1)
    charged(owner, team, "5", at=early)
    charged(owner, team, "10", at=early)
    charged(teammate, team, "10", at=now)
    charged(owner, team, "10", at=month.start - timedelta(seconds=1))  # last month
    charged(outsider, Team.objects.for_user(outsider).get(), "10", at=now)  # another team

    usage = billing.usage_of(team, month)
    assert (usage.total, usage.count) == (Decimal("1.50"), 3)
    assert [(row["created_by__username"], row["count"], row["amount"]) for row in usage.by_member] == [
        ("olivia", 2, Decimal("0.90")),
        ("tomas", 1, Decimal("0.60")),
    ]
    days = {row["day"]: (row["count"], row["amount"]) for row in usage.by_day}
    if early.date() == now.date():
        assert days == {now.date(): (3, Decimal("1.50"))}
    else:
        assert days == {early.date(): (2, Decimal("0.90")), now.date(): (1, Decimal("0.60"))}
    assert billing.usage_of(team, month.previous).total == Decimal("0.60")


def test_generations_waiting_to_be_sent_count_as_on_their_way(owner, team):
    make_generation(owner, team, duration="10")  # pending
    make_generation(owner, team, duration="5", status="submitting")
    make_generation(owner, team, duration="5", status="failed")  # refused: costs nothing
    assert billing.waiting_to_be_charged(team) == Decimal("0.90")


# The budget rule


def test_without_a_budget_nothing_is_refused(owner, team):
    charged(owner, team, amount="10000")
    assert billing.budget_refusal(team, "10") is None


def test_a_video_that_fits_the_budget_exactly_is_allowed_and_the_next_is_refused(owner, team):
    set_budget(team, "1.00")
    charged(owner, team, "10", amount="0.70")
    assert billing.budget_refusal(team, "5") is None  # 0.70 + 0.30 = the budget
    refusal = billing.budget_refusal(team, "10")
    assert refusal == (
        "This 10-second video ($0.60) would go past your team's monthly budget of $1.00 ($0.70 spent this month). "
        "Nothing was sent. An owner of the team can raise the budget on the team's usage page."
    )


def test_a_used_up_budget_says_so_and_counts_what_is_on_its_way(owner, team):
    set_budget(team, "50")
    charged(owner, team, amount="49.60")
    make_generation(owner, team, duration="10")  # waiting to be sent
    assert billing.budget_refusal(team, "5") == (
        "Your team's monthly budget of $50.00 is used up ($49.60 spent this month, $0.60 more on its way). "
        "Nothing was sent. An owner of the team can raise the budget on the team's usage page."
    )


def test_last_months_spending_does_not_count_against_this_months_budget(owner, team):
    set_budget(team, "1")
    charged(owner, team, amount="100", at=Month.current().start - timedelta(days=2))
    assert billing.budget_refusal(team, "5") is None


def test_a_budget_of_zero_refuses_everything(owner, team):
    set_budget(team, "0")
    with pytest.raises(OverBudget, match=r"monthly budget of \$0.00 is used up"):
        billing.save_within_budget(Generation(team=team, created_by=owner, prompt=PROMPT))
    assert not Generation.objects.exists()


# The create form at the budget


def test_at_the_budget_the_form_refuses_keeps_what_was_typed_and_sends_nothing(
    client, owner, team, studio_api, eager_tasks, django_capture_on_commit_callbacks
):
    set_budget(team, "0.60")
    charged(owner, team, amount="0.30")
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("generations:create"), create_form(duration="10"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "would go past your team&#x27;s monthly budget of $0.60 ($0.30 spent this month)" in html
    assert PROMPT in html
    assert re.search(r'<input type="radio" name="duration" value="10"[^>]* checked', html)
    assert Generation.objects.filter(prompt=PROMPT).count() == 0
    assert studio_api.state()["submissions"] == 0

    # A 5-second one still fits: it is sent, and charged once the service accepted it.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("generations:create"), create_form(duration="5"), HTTP_HX_REQUEST="true")
    generation = Generation.objects.get(prompt=PROMPT)
    assert submissions(studio_api, PROMPT) == 1
    assert generation.charge.amount == Decimal("0.30")


def test_try_again_at_the_budget_sends_nothing_and_says_why(client, owner, team, studio_api, eager_tasks):
    failed = make_generation(owner, team, prompt=PROMPT, status="failed", failure_reason="Internal server error")
    set_budget(team, "0.20")
    client.force_login(owner)
    response = client.post(reverse("generations:retry", args=[failed.pk]), HTTP_HX_REQUEST="true")
    assert "monthly budget of $0.20 is used up" not in response.content.decode()  # 0 spent: it is not used up
    assert "would go past your team&#x27;s monthly budget of $0.20" in response.content.decode()
    assert Generation.objects.count() == 1
    assert studio_api.state()["submissions"] == 0
    plain = client.post(reverse("generations:retry", args=[failed.pk]), follow=True)
    assert "monthly budget of $0.20" in plain.content.decode()


# Cost recorded by the real submit task, against the emulator over HTTP


def test_a_submit_the_service_accepts_records_its_cost(studio_api, owner, team):
    generation = make_generation(owner, team, prompt=PROMPT, duration="10")
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED
    assert (generation.charge.amount, generation.charge.duration) == (Decimal("0.60"), "10")
    assert submissions(studio_api, PROMPT) == 1


@pytest.mark.parametrize("refusal", ["unknown model", "wrong key"])
def test_a_submit_the_service_refuses_records_no_cost(studio_api, owner, team, settings, refusal):
    fields = {"model_id": "Not-A-Model"} if refusal == "unknown model" else {}
    if refusal == "wrong key":
        settings.GMI_API_KEY = "not-the-key"
    generation = make_generation(owner, team, prompt=PROMPT, **fields)
    submit_generation(generation.pk)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert not Charge.objects.exists()
    assert billing.usage_of(team, Month.current()).total == 0


# The usage page and the budget form


def test_the_usage_page_shows_this_months_figures_to_a_member(client, owner, teammate, team):
    charged(owner, team, "10")
    charged(teammate, team, "5")
    set_budget(team, "10")
    client.force_login(teammate)
    Membership.objects.filter(user=teammate).exclude(team=team).delete()  # works in the owner's team
    html = client.get(reverse("generations:usage")).content.decode()
    assert f"Usage in {Month.current().label}" in html
    assert "<strong>$0.90</strong> for 2 videos" in html
    assert "<td>olivia</td><td>1</td><td>$0.60</td>" in html
    assert "<td>tomas</td><td>1</td><td>$0.30</td>" in html
    assert "Monthly budget $10.00: $9.10 left." in html
    assert "Only an owner of the team can change it." in html
    assert "Save budget" not in html


def test_the_usage_page_shows_another_month_and_shrugs_off_a_malformed_one(client, owner, team):
    charged(owner, team, "10", at=Month.current().previous.start + timedelta(days=1))
    client.force_login(owner)
    previous = Month.current().previous
    assert (
        "<strong>$0.60</strong>" in client.get(reverse("generations:usage"), {"month": str(previous)}).content.decode()
    )
    for bad in ("2026-13", "soon", "\x00", "9999-99"):
        response = client.get(reverse("generations:usage"), {"month": bad})
        assert response.status_code == 200
        assert "There is no such month" in response.content.decode()


def test_the_team_page_links_to_usage(client, owner, team):
    client.force_login(owner)
    assert reverse("generations:usage") in client.get(reverse("teams:detail")).content.decode()


def test_an_owner_sets_changes_and_removes_the_budget(client, owner, team):
    client.force_login(owner)
    url = reverse("generations:set_budget", args=[team.pk])
    response = client.post(url, {"monthly_budget": "50"}, follow=True)
    team.refresh_from_db()
    assert team.monthly_budget == Decimal("50.00")
    assert "The monthly budget of Harbour Films is now $50.00." in response.content.decode()
    client.post(url, {"monthly_budget": ""})
    team.refresh_from_db()
    assert team.monthly_budget is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-5", "A budget cannot be below 0."),
        ("fifty", "Write the budget as an amount, such as 50 or 49.50."),
        ("NaN", "Write the budget as an amount"),
        ("1.234", "A budget has at most 2 decimals."),
        ("1" * 20, "That budget is too large."),
    ],
)
def test_a_budget_that_is_not_an_amount_is_refused_in_words(client, owner, team, value, message):
    set_budget(team, "50")
    client.force_login(owner)
    response = client.post(reverse("generations:set_budget", args=[team.pk]), {"monthly_budget": value})
    assert response.status_code == 200
    assert message in response.content.decode()
    team.refresh_from_db()
    assert team.monthly_budget == Decimal("50.00")


def test_a_member_who_is_not_an_owner_cannot_set_the_budget(client, teammate, team):
    client.force_login(teammate)
    response = client.post(reverse("generations:set_budget", args=[team.pk]), {"monthly_budget": "1000"})
    assert response.status_code == 403
    team.refresh_from_db()
    assert team.monthly_budget is None


def test_an_outsider_gets_404_for_another_teams_budget(client, outsider, team):
    client.force_login(outsider)
    response = client.post(reverse("generations:set_budget", args=[team.pk]), {"monthly_budget": "1000"})
    assert response.status_code == 404
    team.refresh_from_db()
    assert team.monthly_budget is None


def test_the_create_form_and_the_usage_page_say_what_each_duration_costs(client, owner, team, settings):
    settings.GMI_PRICES = {"10": Decimal("0.56"), "5": Decimal("0.28")}
    client.force_login(owner)
    assert (
        "Each video costs 5 seconds $0.28, 10 seconds $0.56."
        in client.get(reverse("generations:create")).content.decode()
    )
    assert (
        "at the price then: 5 seconds $0.28, 10 seconds $0.56."
        in client.get(reverse("generations:usage")).content.decode()
    )


def test_the_detail_page_shows_what_a_generation_cost(client, owner, team):
    made = charged(owner, team, "10")
    client.force_login(owner)
    html = client.get(reverse("generations:detail", args=[made.generation_id])).content.decode()
    assert "<dt>Cost</dt><dd>$0.60</dd>" in html


# Sign-up, open or invitation-only


def test_an_invitation_only_studio_refuses_sign_up_and_says_so(client, settings, django_user_model):
    settings.ALLOW_SIGNUP = False
    page = client.get(reverse("signup"))
    assert page.status_code == 403
    assert "This studio is invitation-only" in page.content.decode()
    fields = {"username": "newcomer", "email": "newcomer@example.com", "password1": PASSWORD, "password2": PASSWORD}
    assert client.post(reverse("signup"), fields).status_code == 403
    assert not django_user_model.objects.filter(username="newcomer").exists()


def test_an_invitation_only_studio_lets_someone_with_an_invite_link_sign_up_and_join(client, settings, owner, team):
    settings.ALLOW_SIGNUP = False
    join_url = team.create_invite(created_by=owner).get_absolute_url()
    assert client.get(reverse("signup"), {"next": join_url}).status_code == 200
    fields = {
        "username": "newcomer",
        "email": "newcomer@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "next": join_url,
    }
    response = client.post(reverse("signup"), fields)
    assert response.url == join_url
    client.post(join_url)
    assert team.has_member(team.members.model.objects.get(username="newcomer"))


def test_the_log_in_page_offers_sign_up_only_where_it_is_open(client, settings, owner, team):
    signup_link = f'href="{reverse("signup")}'
    assert signup_link in client.get(reverse("login")).content.decode()
    settings.ALLOW_SIGNUP = False
    closed = client.get(reverse("login")).content.decode()
    assert signup_link not in closed and "This studio is invitation-only" in closed
    join_url = team.create_invite(created_by=owner).get_absolute_url()
    on_the_way_in = client.get(reverse("login"), {"next": join_url}).content.decode()
    assert f"{signup_link}?next={join_url}" in on_the_way_in  # the invitee may still make an account


def test_a_revoked_or_made_up_invite_does_not_open_sign_up(client, settings, owner, team):
    settings.ALLOW_SIGNUP = False
    invite = team.create_invite(created_by=owner)
    invite.revoke()
    for next_url in (invite.get_absolute_url(), "/teams/join/made-up-token/", "/teams/", "/teams/join/%00/"):
        assert client.get(reverse("signup"), {"next": next_url}).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_the_edge_of_the_budget_at_the_same_time_make_one_generation(owner, team, monkeypatch):
    set_budget(team, "0.30")  # room for one 5-second video
    checked = billing.budget_refusal

    def slow_check(team, duration):  # both requests check before either saves, were it check-then-act
        refusal = checked(team, duration)
        time.sleep(0.5)
        return refusal

    monkeypatch.setattr(billing, "budget_refusal", slow_check)

    def submit() -> str:
        try:
            billing.save_within_budget(Generation(team=team, created_by=owner, prompt=PROMPT))
        except OverBudget:
            return "refused"
        return "saved"

    outcomes = at_the_same_time(submit)
    assert sorted(outcomes) == ["refused", "saved"]
    assert Generation.objects.count() == 1


def test_the_admin_lists_charges_and_changes_none(client, django_user_model, owner, team):
    made = charged(owner, team, "10")
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD))
    changelist = client.get(reverse("admin:generations_charge_changelist"), {"q": "Harbour"})
    assert changelist.status_code == 200
    assert "Harbour Films" in changelist.content.decode()
    assert client.get(reverse("admin:generations_charge_add")).status_code == 403
    assert client.post(reverse("admin:generations_charge_delete", args=[made.pk]), {"post": "yes"}).status_code == 403
    assert Charge.objects.filter(pk=made.pk).exists()
