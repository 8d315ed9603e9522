"""Every mail the studio sends: rendered from a pair of templates, sent through the backend
EMAIL_URL chose. A mail server that refuses or cannot be reached costs the mail, never the
page: the caller is told, and says so in words."""

from __future__ import annotations

import logging
import smtplib
import time

from django.core.cache import cache
from django.core.mail import send_mail
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def send(template: str, context: dict[str, object], to: str) -> bool:
    """Send `templates/<template>_subject.txt` and `<template>.txt` to one address; False when
    the mail server would not take it."""
    subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
    body = render_to_string(f"{template}.txt", context)
    try:
        send_mail(subject, body, None, [to])
    except (smtplib.SMTPException, OSError, ValueError) as exc:  # ValueError: an address or header it cannot encode
        # The address is the person's own business: the line says which mail, not to whom.
        logger.warning("Could not send the %s mail: %s", template.rsplit("/", 1)[-1], type(exc).__name__)
        return False
    return True


def first_in_a_while(key: str, seconds: int) -> bool:
    """True once per `seconds` for `key` (a kind of mail and whom it is for), so that a form
    cannot be used to flood an inbox. With the cache away, mail is not held back."""
    try:
        return bool(cache.add(f"mail-throttle:{key}", 1, timeout=seconds))
    except Exception:  # a Redis away must not stop a password reset
        logger.warning("Mail throttle unavailable; sending without it")
        return True


def within_hourly_limit(key: str, limit: int) -> bool:
    """Count one more mail of `key` in this clock hour; False once more than `limit` were sent."""
    counter = f"mail-count:{key}:{int(time.time() // 3600)}"
    try:
        cache.add(counter, 0, timeout=3600)
        return cache.incr(counter) <= limit
    except Exception:  # a Redis away must not stop an invite
        logger.warning("Mail limit unavailable; sending without it")
        return True


def send_invite(invite, to: str, url: str) -> bool:
    """Mail an invite's link to `to`, naming the team and who invites."""
    from accounts.models import INVITE_DAYS

    context = {"team": invite.team, "inviter": invite.created_by, "url": url, "days": INVITE_DAYS}
    return send("accounts/email/invite", context, to)
