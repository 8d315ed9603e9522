"""What the studio says about itself: log lines with their context, and errors sent to Sentry.

Every line logged while a request or a task is about a generation carries its id, its team and
the request's id (`X-Request-ID`, taken from the request when it is a sane one, else made up,
and sent back in the response). The context lives in context variables: a request sets them
in its middleware and views, a task in its body, and each task starts from none.

Lines are JSON (python-json-logger) or text, as LOG_FORMAT says; both formatters take known
secrets (the API key, the metrics token, the secret key, the mail server's password,
passwords inside URLs) out of the
finished line, whatever put them there. Sentry is set up only when SENTRY_DSN is set.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# Ids that proxies and tracing systems send (UUIDs, hex, "Root=1-…"): safe to write into a line.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:=+/-]{0,127}", re.ASCII)
MASK = "********"
# scheme://user:password@host: the password part.
URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/@\s:]*:)[^@\s/]+@", re.IGNORECASE)

generation_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("generation_id", default=None)
team_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("team_id", default=None)
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
CONTEXT = {"generation_id": generation_id, "team_id": team_id, "request_id": request_id}


def bind(generation=None, **values: Any) -> None:
    """Say what the lines logged from here on are about: a Generation (its id and team), or
    the ids themselves (`generation_id=`, `team_id=`, `request_id=`)."""
    if generation is not None:
        values.setdefault("generation_id", generation.pk)
        values.setdefault("team_id", generation.team_id)
    for name, value in values.items():
        CONTEXT[name].set(value)


@contextlib.contextmanager
def log_context(generation=None, **values: Any) -> Iterator[None]:
    """`bind` for a block: afterwards the context is what it was before, whatever the block bound."""
    before = {name: var.get() for name, var in CONTEXT.items()}
    try:
        bind(generation, **values)
        yield
    finally:
        for name, value in before.items():
            CONTEXT[name].set(value)


def clear_context() -> None:
    for var in CONTEXT.values():
        var.set(None)


class ContextFilter(logging.Filter):
    """Puts the context on every record a handler writes (and the Celery task, in a worker)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in CONTEXT.items():
            if (value := var.get()) is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def redact(text: str) -> str:
    """The line without the secrets the settings know of, nor passwords inside URLs."""
    from django.conf import settings

    if not settings.configured:
        return text
    for name in ("GMI_API_KEY", "METRICS_TOKEN", "SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "EMAIL_HOST_PASSWORD"):
        secret = getattr(settings, name, "")
        if isinstance(secret, str) and len(secret) >= 8:
            text = text.replace(secret, MASK).replace(json.dumps(secret)[1:-1], MASK)
    return URL_PASSWORD.sub(lambda match: f"{match['head']}{MASK}@", text)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [generation=… team=… request=…]`, for development."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name.removesuffix('_id')}={getattr(record, name)}" for name in CONTEXT if hasattr(record, name)
        )
        return redact(f"{line} [{context}]" if context else line)


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: time, level, logger, message, the context, and any `extra`."""

    def __init__(self, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s", timestamp="time", **kwargs)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """Django's LOGGING: one console handler, text or JSON, with the context on every line."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "formatters": {
            "text": {"()": f"{__name__}.TextFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["context"]}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "urllib3": {"level": "WARNING"},
            # Beat sends a tick every second: its own lines, and Celery's "received"/"succeeded"
            # for every task, would drown what matters. The studio logs each step it takes.
            "celery.beat": {"level": "WARNING"},
            "celery.app.trace": {"level": "WARNING"},
            "celery.worker.strategy": {"level": "WARNING"},
            "axes": {"level": "WARNING"},
            "health_check": {"level": "ERROR"},  # a failing check is in the answer; no line for each probe
        },
    }


def request_id_middleware(get_response):
    """Give each request an id (the caller's `X-Request-ID` when it is a sane one), put it in
    the log context and send it back in the response's `X-Request-ID` header.

    Synchronous, as the middleware below it is (under ASGI the chain runs in a thread, whose
    context comes back to the request's task): a thread serves one request after another, so
    the context is put back as it was afterwards.
    """

    def middleware(request):
        with log_context(generation_id=None, team_id=None, request_id=_request_id_of(request)):
            response = get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response

    return middleware


def _request_id_of(request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request.request_id = given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    return request.request_id


# Celery: the worker and beat log through LOGGING (so JSON in production) at the level their
# --loglevel says, and every task starts with no context left from the one before.


def configure_celery_logging(loglevel=None, **kwargs) -> None:
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


def start_task_context(**kwargs) -> None:
    clear_context()


# Sentry.


def init_sentry(dsn: str, *, environment: str, traces_sample_rate: float, release: str) -> None:
    """Errors (and, if asked for, a sample of traces) of the web, the workers and beat."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        send_default_pii=False,
        # A frame's local variables hold what no report should: SQL parameters (a session key),
        # a form's fields (a password), the API's headers. The stack itself is kept.
        include_local_variables=False,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        event_scrubber=EventScrubber(recursive=True),
        before_send=_redacted_event,
        before_breadcrumb=lambda crumb, hint: _redacted(crumb),
    )


def _redacted_event(event: dict, hint: dict) -> dict:
    """The event with every string in it (messages, local variables, breadcrumbs) redacted."""
    return _redacted(event)


def _redacted(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value
