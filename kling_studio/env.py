"""The strict readers of the environment that settings.py uses: a value that cannot be
parsed stops the process with ImproperlyConfigured naming the variable."""

from __future__ import annotations

import ipaddress
import os
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default)
    if value not in ("True", "False", "true", "false", "1", "0"):
        raise ImproperlyConfigured(f"{name} must be True or False, not {value!r}")
    return value in ("True", "true", "1")


def envint(name: str, default: str, minimum: int | None = None) -> int:
    value = os.getenv(name, default)
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envfloat(name: str, default: str, minimum: float = 0.0, maximum: float | None = None) -> float:
    value = os.getenv(name, default)
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum:g}, not {number:g}")
    return number


def envtoken(name: str, minimum_length: int = 16) -> str:
    """A secret someone sends (a bearer token): empty, or long enough, printable, no spaces."""
    value = os.getenv(name, "")
    if value and (len(value) < minimum_length or not value.isprintable() or " " in value):
        raise ImproperlyConfigured(f"{name} must be at least {minimum_length} characters, without spaces")
    return value


def envnetworks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated networks ("10.0.0.0/8, ::1"); a bare address is a network of one."""
    try:
        return [
            ipaddress.ip_network(network.strip(), strict=False)
            for network in os.getenv(name, "").split(",")
            if network.strip()
        ]
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be comma-separated networks: {exc}") from None


def envdsn(name: str) -> str:
    """A Sentry DSN, or empty."""
    value = os.getenv(name, "")
    if value:
        from sentry_sdk.utils import BadDsn, Dsn

        try:
            Dsn(value)
        except BadDsn as exc:
            raise ImproperlyConfigured(f"{name} is not a Sentry DSN: {exc}") from None
    return value


def envurl(name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = os.getenv(name, default)
    if not value.startswith(tuple(f"{scheme}://" for scheme in schemes)):
        raise ImproperlyConfigured(f"{name} must be a {'/'.join(schemes)} URL, not {value!r}")
    return value.rstrip("/")


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.getenv(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


EMAIL_URL_OPTIONS = {"tls", "ssl", "timeout"}
EMAIL_URL_SCHEMES = ("smtp", "submission", "console", "file", "memory", "dummy")


def envemail(name: str, default: str) -> dict[str, object]:
    """Django's EMAIL_* settings from an email URL (dj-email-url), refusing what it would guess at:
    an unknown scheme, an unknown option, a yes/no that is neither, a port or timeout that is
    not a number, both TLS and SSL."""
    import dj_email_url

    value = os.getenv(name, default)
    scheme, separator, _ = value.partition("://")
    if scheme not in EMAIL_URL_SCHEMES or not separator:
        raise ImproperlyConfigured(
            f"{name} must be an email URL ({', '.join(f'{s}://' for s in EMAIL_URL_SCHEMES)}), "
            f"not {_without_password(value)!r}"
        )
    query = parse_qs(urlsplit(value).query, keep_blank_values=True)
    for option, values in query.items():
        if option not in EMAIL_URL_OPTIONS:
            raise ImproperlyConfigured(f"{name} has an unknown option {option!r}; it takes tls, ssl and timeout")
        if option in ("tls", "ssl") and values[-1] not in ("True", "False", "true", "false", "1", "0"):
            raise ImproperlyConfigured(f"{name}'s {option} must be True or False, not {values[-1]!r}")
    try:
        config = dj_email_url.parse(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must have a numeric port and timeout, not {_without_password(value)!r}"
        ) from None
    if all(query.get(option, ["False"])[-1] in ("True", "true", "1") for option in ("tls", "ssl")):
        raise ImproperlyConfigured(f"{name} may ask for tls or for ssl, not both")
    if scheme == "file":  # file:///var/mail is the directory /var/mail (dj-email-url drops the slash)
        config["EMAIL_FILE_PATH"] = unquote(urlsplit(value).path)
        if not config["EMAIL_FILE_PATH"].startswith("/"):
            raise ImproperlyConfigured(f"{name} must name a directory, as in file:///var/mail, not {value!r}")
    if config["EMAIL_TIMEOUT"] is None:
        config["EMAIL_TIMEOUT"] = 10  # a web request that sends a mail must not wait on a server for ever
    return config


def _without_password(url: str) -> str:
    """The URL as an error may show it: with its password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":********@", 1)


def envdecimal(name: str, default: str, places: int = 4) -> Decimal:
    """A sum of money: a plain decimal number, zero or more, with at most `places` decimals."""
    value = os.getenv(name, default)
    try:
        number = Decimal(value)
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or number.as_tuple().exponent < -places:
        raise ImproperlyConfigured(
            f"{name} must be an amount of 0 or more with at most {places} decimals, such as 0.35, not {value!r}"
        )
    return number
