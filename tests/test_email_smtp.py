"""Mail over real SMTP: EMAIL_URL as production writes it, against an SMTP server on loopback
(aiosmtpd) that insists on STARTTLS and a log-in, as a mail provider does. The server is the
outside world; the studio's settings, views and Django's SMTP backend run for real."""

from __future__ import annotations

import email
import logging
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.urls import reverse

from gmi_emulator.testing import make_test_certificate
from kling_studio.env import envemail
from kling_studio.localservices import free_port
from tests.test_email import forget_mail_limits

pytestmark = pytest.mark.django_db

LOGIN, PASSWORD = "studio@example.com", "p@ss/word:42"
EMAIL_URL = "smtp://studio%40example.com:p%40ss%2Fword%3A42@127.0.0.1:{port}/?tls=True&timeout=5"


class Inbox:
    """What the SMTP server accepted: each message's envelope."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def only_the_studios_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    given = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password)
    return AuthResult(success=given == (LOGIN.encode(), PASSWORD.encode()))


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[tuple[Controller, Inbox, Path]]:
    certificate, key, ca = make_test_certificate(tmp_path / "tls")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=only_the_studios_login,
    )
    controller.start()
    yield controller, inbox, ca
    controller.stop()


@pytest.fixture
def studio_mails_through(smtp_server, settings, monkeypatch):
    """The studio's EMAIL_* settings as settings.py reads them from EMAIL_URL, trusting the
    server's throwaway certificate authority."""
    controller, inbox, ca = smtp_server
    forget_mail_limits()
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))

    def use(url: str) -> Inbox:
        monkeypatch.setenv("EMAIL_URL", url)
        for name, value in envemail("EMAIL_URL", "").items():
            setattr(settings, name, value)
        settings.DEFAULT_FROM_EMAIL = "Kling Studio <studio@example.com>"
        return inbox

    use.port = controller.port
    return use


@pytest.fixture
def grace(django_user_model):
    return django_user_model.objects.create_user("grace", email="grace@example.com", password="a long password")


def test_a_password_reset_mail_goes_out_over_smtp_with_starttls_and_a_log_in(client, studio_mails_through, grace):
    inbox = studio_mails_through(EMAIL_URL.format(port=studio_mails_through.port))
    response = client.post(reverse("password_reset"), {"email": "grace@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "studio@example.com"
    assert envelope.rcpt_tos == ["grace@example.com"]
    message = email.message_from_bytes(envelope.original_content)
    assert message["Subject"] == "Reset your Kling Studio password"
    assert message["From"] == "Kling Studio <studio@example.com>"
    assert "http://testserver/accounts/password-reset/" in message.get_payload(decode=True).decode()


def test_a_wrong_smtp_password_costs_the_mail_and_never_shows_the_password(client, studio_mails_through, grace, caplog):
    wrong = EMAIL_URL.format(port=studio_mails_through.port).replace("p%40ss", "not-the")
    inbox = studio_mails_through(wrong)
    with caplog.at_level(logging.WARNING, logger="accounts.mail"):
        response = client.post(reverse("password_reset"), {"email": "grace@example.com"})
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert inbox.envelopes == []
    assert re.search(r"Could not send the password_reset mail: SMTP\w+(Error|Disconnected)", caplog.text)
    assert "not-the" not in caplog.text and "grace@example.com" not in caplog.text
