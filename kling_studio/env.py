"""The strict readers of the environment that settings.py uses: a value that cannot be
parsed stops the process with ImproperlyConfigured naming the variable."""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation

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


def envfloat(name: str, default: str, minimum: float = 0.0) -> float:
    value = os.getenv(name, default)
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


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
