"""Confirming that a person's email address is theirs: offered, never required before working.

The link carries a signed token naming the account and the address (Django's signing with the
SECRET_KEY, timestamped, valid for CONFIRMATION_DAYS). Opening it records a `ConfirmedEmail`
for that account and address: the account's address counts as confirmed while such a row names
it, so changing the address makes it unconfirmed until the new one is confirmed.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest
from django.urls import reverse

from accounts import mail
from accounts.models import ConfirmedEmail

SALT = "accounts.email-confirmation"
CONFIRMATION_DAYS = 3
RESEND_SECONDS = 60


class ConfirmationError(Exception):
    """Why a confirmation link did not confirm anything, in words."""


def is_confirmed(user) -> bool:
    if not user.email:
        return False
    return ConfirmedEmail.objects.filter(user=user, email=user.email).exists()


def make_token(user) -> str:
    return signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)


def confirm(token: str):
    """The account the token confirms the address of, now recorded as confirmed; or
    ConfirmationError saying why not."""
    try:
        claim = signing.loads(token, salt=SALT, max_age=timedelta(days=CONFIRMATION_DAYS))
    except signing.SignatureExpired:
        raise ConfirmationError(
            f"This link is more than {CONFIRMATION_DAYS} days old. Log in and send yourself a new one."
        ) from None
    except (signing.BadSignature, ValueError, TypeError):
        raise ConfirmationError("This link is not one the studio sent, or it was copied incompletely.") from None
    if not isinstance(claim, dict):
        raise ConfirmationError("This link is not one the studio sent, or it was copied incompletely.")
    user = get_user_model().objects.filter(pk=claim.get("user")).first()
    if user is None or not user.email or user.email != claim.get("email"):
        raise ConfirmationError("This link is for an address the account no longer uses.")
    ConfirmedEmail.objects.get_or_create(user=user, email=user.email)
    return user


def send_confirmation(request: HttpRequest, user, *, throttle: bool = True) -> str:
    """Mail the person a link to confirm their address: "sent", "wait" (one was sent less
    than RESEND_SECONDS ago) or "failed" (the mail server would not take it)."""
    address = hashlib.sha256(user.email.lower().encode()).hexdigest()
    if throttle and not mail.first_in_a_while(f"confirm:{user.pk}:{address}", RESEND_SECONDS):
        return "wait"
    url = request.build_absolute_uri(reverse("confirm_email", args=[make_token(user)]))
    context = {"user": user, "url": url, "days": CONFIRMATION_DAYS}
    return "sent" if mail.send("accounts/email/confirm_email", context, user.email) else "failed"
