"""Email: sign-up asks for an address and offers to confirm it, password reset by email, invites
by email, and what a mail server that will not take a mail leaves the person with.

Mail goes to Django's in-memory outbox (`mailoutbox`), or, where the test says so, to a real
SMTP address on this machine.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from unittest import mock

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts import email_confirmation
from accounts.models import Invite, Membership
from kling_studio.localservices import BASE_DIR, free_port
from kling_studio.observability import JsonFormatter, TextFormatter
from kling_studio.reporting import SecretsMaskingFilter
from tests.people import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP = {"username": "grace", "email": "grace@example.com", "password1": PASSWORD, "password2": PASSWORD}


@pytest.fixture(autouse=True)
def no_mail_held_back():
    """Each test starts with no mail held back by an earlier one's (the throttles live in Redis,
    and ids repeat across tests)."""
    forget_mail_limits()


def forget_mail_limits() -> None:
    client = cache._cache.get_client(write=True)
    for key in client.scan_iter(match="*:mail-*"):
        client.delete(key)


def link_in(message) -> str:
    """The path of the one studio link in a mail's body."""
    (url,) = re.findall(r"http://testserver(/\S+)", message.body)
    return url


@pytest.fixture
def grace(django_user_model):
    return django_user_model.objects.create_user("grace", email="grace@example.com", password=PASSWORD)


@pytest.fixture
def refusing_mail_server(settings):
    """Mail goes over SMTP to a local port where nothing listens: every mail is refused."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2


# Sign-up


def test_sign_up_asks_for_an_email_and_keeps_what_was_typed_without_one(client, mailoutbox):
    page = client.get(reverse("signup")).content.decode()
    assert 'type="email" name="email"' in page
    response = client.post(reverse("signup"), {**SIGNUP, "email": ""})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Enter your email address." in html
    assert 'value="grace"' in html
    response = client.post(reverse("signup"), {**SIGNUP, "email": "grace@"})
    assert "Enter an email address such as maria@example.com." in response.content.decode()
    assert 'value="grace@"' in response.content.decode()
    assert mailoutbox == []


def test_sign_up_lets_the_person_work_at_once_and_mails_a_confirmation_link(client, mailoutbox, django_user_model):
    response = client.post(reverse("signup"), SIGNUP, follow=True)
    assert response.redirect_chain == [(reverse("generations:create"), 302)]
    assert "We sent a link to grace@example.com" in response.content.decode()
    (message,) = mailoutbox
    assert message.to == ["grace@example.com"]
    assert message.subject == "Confirm your email address for Kling Studio"
    assert link_in(message).startswith("/accounts/email/confirm/")
    user = django_user_model.objects.get(username="grace")
    assert user.email == "grace@example.com"
    assert not email_confirmation.is_confirmed(user)  # offered, not required


def test_the_confirmation_link_confirms_the_address_and_the_page_says_so(client, mailoutbox, grace):
    client.force_login(grace)
    page = client.get(reverse("email_address")).content.decode()
    assert "grace@example.com: <strong>not confirmed yet</strong>" in page
    assert "Send the confirmation link again" in page
    client.post(reverse("send_email_confirmation"))
    (message,) = mailoutbox

    client.logout()  # the link works from any browser: it proves the address, not a session
    response = client.get(link_in(message))
    assert response.status_code == 200
    assert "grace@example.com is confirmed" in response.content.decode()
    assert email_confirmation.is_confirmed(grace)
    assert client.get(link_in(message)).status_code == 200  # opening it twice records it once
    assert list(grace.confirmed_emails.values_list("email", flat=True)) == ["grace@example.com"]

    client.force_login(grace)
    page = client.get(reverse("email_address")).content.decode()
    assert "grace@example.com: <strong>confirmed</strong>" in page
    assert "Send the confirmation link again" not in page


def test_sending_the_link_again_is_held_back_for_a_minute(client, mailoutbox, grace):
    client.force_login(grace)
    response = client.post(reverse("send_email_confirmation"), follow=True)
    assert "We sent a link to grace@example.com" in response.content.decode()
    response = client.post(reverse("send_email_confirmation"), follow=True)
    assert "less than a minute ago" in response.content.decode()
    assert len(mailoutbox) == 1


@pytest.mark.parametrize(
    ("spoil", "words"),
    [
        (lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "not one the studio sent"),
        (lambda token: token.replace(":", "", 1), "not one the studio sent"),
        (lambda token: "x" * 300, "not one the studio sent"),
        (lambda token: "\u00e9t\u00e9:1:2", "not one the studio sent"),
    ],
)
def test_a_tampered_link_says_so_in_words(client, grace, spoil, words):
    response = client.get(reverse("confirm_email", args=[spoil(email_confirmation.make_token(grace))]))
    assert response.status_code == 400
    assert words in response.content.decode()
    assert not email_confirmation.is_confirmed(grace)


def test_an_expired_link_says_so_and_offers_a_new_one(client, grace):
    four_days_ago = time.time() - 4 * 24 * 3600
    with mock.patch("django.core.signing.time.time", return_value=four_days_ago):
        token = email_confirmation.make_token(grace)
    response = client.get(reverse("confirm_email", args=[token]))
    html = response.content.decode()
    assert response.status_code == 400
    assert "more than 3 days old" in html
    assert f"{reverse('login')}?next={reverse('email_address')}" in html
    assert not email_confirmation.is_confirmed(grace)


def test_a_new_address_is_unconfirmed_and_the_old_link_no_longer_works(client, mailoutbox, grace):
    old_token = email_confirmation.make_token(grace)
    client.get(reverse("confirm_email", args=[old_token]))
    assert email_confirmation.is_confirmed(grace)

    client.force_login(grace)
    response = client.post(reverse("email_address"), {"email": "grace@studio.example"}, follow=True)
    assert "We sent a link to grace@studio.example" in response.content.decode()
    grace.refresh_from_db()
    assert grace.email == "grace@studio.example"
    assert not email_confirmation.is_confirmed(grace)
    assert mailoutbox[-1].to == ["grace@studio.example"]
    response = client.get(reverse("confirm_email", args=[old_token]))
    assert "an address the account no longer uses" in response.content.decode()
    client.get(link_in(mailoutbox[-1]))
    assert email_confirmation.is_confirmed(grace)


def test_a_refused_address_change_keeps_what_was_typed_and_the_old_address(client, mailoutbox, grace):
    client.force_login(grace)
    response = client.post(reverse("email_address"), {"email": "not an address"})
    html = response.content.decode()
    assert "Enter an email address such as maria@example.com." in html
    assert 'value="not an address"' in html
    assert "grace@example.com: <strong>not confirmed yet</strong>" in html
    grace.refresh_from_db()
    assert grace.email == "grace@example.com"
    assert mailoutbox == []


def test_the_email_page_is_for_people_logged_in(client):
    response = client.get(reverse("email_address"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(reverse("send_email_confirmation")).status_code == 302


def test_a_mail_server_that_refuses_costs_the_mail_not_the_sign_up(client, refusing_mail_server, django_user_model):
    response = client.post(reverse("signup"), SIGNUP, follow=True)
    assert response.status_code == 200
    assert "could not send mail to grace@example.com just now" in response.content.decode()
    assert django_user_model.objects.filter(username="grace").exists()


# Password reset


def test_a_password_reset_works_end_to_end(client, mailoutbox, grace):
    login_page = client.get(reverse("login")).content.decode()
    assert f'href="{reverse("password_reset")}"' in login_page
    response = client.post(reverse("password_reset"), {"email": "GRACE@example.com"}, follow=True)
    assert response.redirect_chain == [(reverse("password_reset_done"), 302)]
    assert "If an account has that address" in response.content.decode()
    (message,) = mailoutbox
    assert message.to == ["grace@example.com"]
    assert message.subject == "Reset your Kling Studio password"
    assert "Hello grace," in message.body

    response = client.get(link_in(message), follow=True)  # Django moves the token into the session
    assert "Choose a new password" in response.content.decode()
    new_password = "a brand new password"
    response = client.post(
        response.redirect_chain[-1][0], {"new_password1": new_password, "new_password2": new_password}, follow=True
    )
    assert "Your password is changed" in response.content.decode()

    old = client.post(reverse("login"), {"username": "grace", "password": PASSWORD})
    assert old.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(reverse("login"), {"username": "grace", "password": new_password})
    assert response.status_code == 302 and response["Location"] == reverse("generations:create")
    used = client.get(link_in(message), follow=True).content.decode()
    assert "This link does not work" in used  # a link works once


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, mailoutbox, grace):
    known = client.post(reverse("password_reset"), {"email": "grace@example.com"}, follow=True)
    unknown = client.post(reverse("password_reset"), {"email": "nobody@example.com"}, follow=True)
    assert unknown.redirect_chain == known.redirect_chain
    strip = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"')
    assert strip.sub("", unknown.content.decode()) == strip.sub("", known.content.decode())
    assert [message.to for message in mailoutbox] == [["grace@example.com"]]


def test_reset_mails_to_one_address_are_held_back_for_a_few_minutes(client, mailoutbox, grace):
    for _ in range(3):
        response = client.post(reverse("password_reset"), {"email": "grace@example.com"})
        assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1


def test_a_reset_the_mail_server_refuses_still_answers_the_same(client, refusing_mail_server, grace):
    response = client.post(reverse("password_reset"), {"email": "grace@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")


def test_a_reset_link_that_was_tampered_with_says_it_does_not_work(client, grace):
    response = client.get(reverse("password_reset_confirm", args=["Mg", "set-password"]))
    assert response.status_code == 200
    assert "This link does not work" in response.content.decode()


# Invites by email


def test_an_owner_mails_an_invite_naming_the_team_and_the_link_works(client, mailoutbox, owner, team, grace):
    client.force_login(owner)
    page = client.get(reverse("teams:detail")).content.decode()
    assert f'action="{reverse("teams:email_invite", args=[team.pk])}"' in page
    response = client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "grace@example.com"}, follow=True)
    assert "Invite sent to grace@example.com" in response.content.decode()
    (message,) = mailoutbox
    assert message.to == ["grace@example.com"]
    assert message.subject == "olivia invites you to Harbour Films in Kling Studio"
    assert 'join the team "Harbour Films"' in message.body
    assert "The link works for 7 days. If you do not know olivia, ignore this mail." in message.body
    invite = Invite.objects.usable().get(team=team)
    assert link_in(message) == invite.get_absolute_url()

    client.logout()
    invitation = client.get(link_in(message)).content.decode()  # logged out: who invited, to what
    assert "olivia invited you to Harbour Films" in invitation
    client.force_login(grace)
    client.post(link_in(message))
    assert team.memberships.get(user=grace).role == Membership.Role.MEMBER


def test_a_bad_address_keeps_what_was_typed_and_sends_nothing(client, mailoutbox, owner, team):
    client.force_login(owner)
    response = client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "grace at example"})
    html = response.content.decode()
    assert "Enter an email address such as maria@example.com." in html
    assert 'value="grace at example"' in html
    assert mailoutbox == [] and not Invite.objects.filter(team=team).exists()


def test_an_invite_the_mail_server_refuses_says_so_and_leaves_no_working_link(
    client, refusing_mail_server, owner, team
):
    client.force_login(owner)
    response = client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "grace@example.com"})
    html = response.content.decode()
    assert "could not send mail to grace@example.com just now" in html
    assert 'value="grace@example.com"' in html
    assert not Invite.objects.usable().filter(team=team).exists()


def test_only_an_owner_may_mail_invites(client, mailoutbox, owner, team, grace, django_user_model):
    Membership.objects.create(team=team, user=grace, role=Membership.Role.MEMBER)
    client.force_login(grace)
    assert client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "x@example.com"}).status_code == 403
    outsider = django_user_model.objects.create_user("oscar", password=PASSWORD)
    client.force_login(outsider)
    assert client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "x@example.com"}).status_code == 404
    client.logout()
    assert client.post(reverse("teams:email_invite", args=[team.pk]), {"email": "x@example.com"}).status_code == 302
    assert mailoutbox == []


def test_an_owner_sends_at_most_thirty_invite_mails_an_hour(client, mailoutbox, owner, team):
    client.force_login(owner)
    for number in range(31):
        response = client.post(reverse("teams:email_invite", args=[team.pk]), {"email": f"p{number}@example.com"})
    assert "You sent 30 invites this hour" in response.content.decode()
    assert len(mailoutbox) == 30


# The mail server's password


def test_the_mail_servers_password_is_masked_on_the_debug_page_and_in_every_log_line(settings):
    settings.EMAIL_URL = "smtp://studio:hunter2hunter2@smtp.example.com:587/?tls=True"
    settings.EMAIL_HOST_PASSWORD = "hunter2hunter2"
    shown = str(SecretsMaskingFilter().get_safe_settings())
    assert "hunter2hunter2" not in shown
    assert "smtp://studio:********************@smtp.example.com:587/?tls=True" in shown
    record = logging.LogRecord(
        "accounts.mail", logging.WARNING, __file__, 1, "login %s refused", ("hunter2hunter2",), None
    )
    for formatter in (TextFormatter("%(message)s"), JsonFormatter()):
        line = formatter.format(record)
        assert "hunter2hunter2" not in line and "login ******** refused" in line


def test_without_email_url_a_process_prints_its_mail_on_the_console_as_make_run_shows_it():
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("EMAIL_", "DEFAULT_FROM"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "sendtestemail", "grace@example.com"],
        cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "To: grace@example.com" in result.stdout
    assert "From: Kling Studio <studio@localhost>" in result.stdout


def test_password_pages_are_the_studios_own(client, grace):
    client.force_login(grace)
    page = client.get(reverse("password_change")).content.decode()
    assert "<h1>Change your password</h1>" in page and "Kling Studio" in page
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": "another long password", "new_password2": "another long password"},
        follow=True,
    )
    assert "<h1>Your password is changed</h1>" in response.content.decode()


def test_a_person_locked_out_of_logging_in_is_offered_a_reset_by_email(client, grace, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": "grace", "password": "wrong"})
    assert "Too many attempts" in response.content.decode()
    assert f'<a href="{reverse("password_reset")}">Reset it by email</a>' in response.content.decode()
