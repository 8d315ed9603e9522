"""Email through the pages, in Chromium: an owner mails an invite, the logged-out invitee sees
who invited them to which team, signs up from there and comes back to join; a person who forgot
their password resets it from the log-in page. Mail lands in Django's in-memory outbox."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts import email_confirmation
from accounts.models import Team
from tests.test_browser import sign_up
from tests.test_email import forget_mail_limits

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def link_in(message, studio_server) -> str:
    (url,) = re.findall(rf"{re.escape(studio_server.url)}/\S+", message.body)
    return url


def test_a_mailed_invite_brings_a_new_person_into_the_team(open_page, studio_server, mailoutbox):
    forget_mail_limits()
    owner, invitee = open_page(), open_page()
    sign_up(owner, studio_server, "olivia")
    Team.objects.filter(name="olivia's team").update(name="Harbour Films")

    owner.goto(f"{studio_server.url}/teams/")
    owner.get_by_label("Invite by email").fill("grace@")
    owner.get_by_role("button", name="Send invite").click()
    expect(owner.get_by_text("Enter an email address such as maria@example.com.")).to_be_visible()
    expect(owner.get_by_label("Invite by email")).to_have_value("grace@")  # what was typed is kept
    owner.get_by_label("Invite by email").fill("grace@example.com")
    owner.get_by_role("button", name="Send invite").click()
    expect(owner.get_by_text("Invite sent to grace@example.com.")).to_be_visible()
    invite_mail = next(message for message in mailoutbox if message.to == ["grace@example.com"])
    assert invite_mail.subject == "olivia invites you to Harbour Films in Kling Studio"

    # Grace has no account and is logged out: the link says who invited her, and to what.
    invitee.goto(link_in(invite_mail, studio_server))
    expect(invitee.get_by_role("heading", name="Join Harbour Films?")).to_be_visible()
    expect(invitee.get_by_text("olivia invited you to Harbour Films.")).to_be_visible()
    invitee.get_by_role("link", name="Create an account").click()
    invitee.get_by_label("Username").fill("grace")
    invitee.get_by_label("Email").fill("grace@example.com")
    invitee.get_by_label("Password", exact=True).fill("correct horse battery staple")
    invitee.get_by_label("Password confirmation").fill("correct horse battery staple")
    invitee.get_by_role("button", name="Sign up").click()
    expect(invitee.get_by_role("heading", name="Join Harbour Films?")).to_be_visible()  # back at the invite
    expect(invitee.get_by_text("We sent a link to grace@example.com")).to_be_visible()
    invitee.get_by_role("button", name="Join Harbour Films").click()
    expect(invitee.get_by_text("You are now working in Harbour Films.")).to_be_visible()

    # Her confirmation link, opened in the same browser; her page says so.
    confirmation = mailoutbox[-1]
    assert confirmation.subject == "Confirm your email address for Kling Studio"
    invitee.goto(link_in(confirmation, studio_server))
    expect(invitee.get_by_text("grace@example.com is confirmed.")).to_be_visible()
    invitee.get_by_role("link", name="grace").click()
    expect(invitee.locator("#email-status")).to_have_text("grace@example.com: confirmed")
    assert email_confirmation.is_confirmed(get_user_model().objects.get(username="grace"))


def test_a_person_who_forgot_their_password_resets_it_from_the_log_in_page(page, studio_server, mailoutbox):
    forget_mail_limits()
    get_user_model().objects.create_user("maria", email="maria@example.com", password="the password I forgot")
    page.goto(f"{studio_server.url}/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("maria@example.com")
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    (message,) = mailoutbox

    page.goto(link_in(message, studio_server))
    page.get_by_label("New password", exact=True).fill("a brand new password")
    page.get_by_label("New password confirmation").fill("a brand new password")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Your password is changed")).to_be_visible()
    page.get_by_role("link", name="Log in").last.click()
    page.get_by_label("Username").fill("maria")
    page.get_by_label("Password").fill("a brand new password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="New video")).to_be_visible()
