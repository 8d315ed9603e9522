"""The machinery of the no-server-error test: the URL patterns read from the resolver, drawing
a request for one, sending it as each kind of visitor inside a savepoint that is rolled back,
and reporting each distinct server error with the shortest request that caused it."""

from __future__ import annotations

import asyncio
import logging
import re
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.cookies import SimpleCookie
from pathlib import Path
from unittest import mock
from urllib.parse import quote, urlencode

from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.db import connections, transaction
from django.template.base import Template
from django.test import AsyncClient, Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import strategies as st

from kling_studio.localservices import BASE_DIR
from tests import strategies as s
from tests.fuzz_endpoints import (
    ADMIN_CHANGELIST,
    ADMIN_ENDPOINT,
    ADMIN_PARAMS,
    ENDPOINTS,
    OTHER_METHODS,
    RAW_BODIES,
    Endpoint,
    Probe,
)
from tests.fuzz_world import World
from tests.strategies import Pairs, Value

# The URL patterns, read from the resolver: every one must have an endpoint above.

PARAMETER = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    template: str  # the pattern's route from the root, e.g. "generations/<int:pk>/card/"
    name: str | None

    @property
    def label(self) -> str:
        return self.name or self.template

    @property
    def endpoint(self) -> Endpoint | None:
        if self.template.startswith("admin/"):
            return ADMIN_CHANGELIST if (self.name or "").endswith("_changelist") else ADMIN_ENDPOINT
        return ENDPOINTS.get(self.name or "")

    def parameters(self) -> dict[str, st.SearchStrategy[Value]]:
        endpoint = self.endpoint or Endpoint()
        found = {}
        for match in PARAMETER.finditer(self.template):
            name = match["name"] or match["group"]
            default = s.path_ids() if match["converter"] == "int" else s.path_text()
            found[name] = endpoint.params.get(name, ADMIN_PARAMS.get(name, default))
        return found

    def path(self, params: Mapping[str, str]) -> str:
        def fill(match: re.Match) -> str:
            return quote(params[match["name"] or match["group"]], safe="")

        return "/" + PARAMETER.sub(fill, self.template).replace("^", "").replace("$", "")


def url_patterns() -> list[Route]:
    def walk(patterns, prefix: str, namespace: str) -> Iterator[Route]:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = ":".join(part for part in (namespace, pattern.namespace) if part)
                yield from walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                yield Route(route, name)

    return list(walk(get_resolver().url_patterns, "", ""))


ROUTES = url_patterns()


# Sending a request, and what a server error looks like in the report.


@dataclass(frozen=True)
class Failure:
    """A 500: the exception, and the line of the studio's own code it came through."""

    key: tuple  # (exception type, file, line): what makes two failures the same one
    exception: str
    raised_at: str
    frames: str

    @classmethod
    def of(cls, exc: BaseException | None, during: str = "") -> Failure:
        if exc is None:
            return cls(("no exception",), "a 500 without an exception", "?", "")
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [frame for frame in frames if _is_ours(frame.filename)] or frames
        where = ours[-1] if ours else None
        key = (type(exc).__name__, where.filename if where else None, where.lineno if where else None)
        raised_at = f"{_relative(where.filename)}:{where.lineno} in {where.name}: {where.line}" if where else "?"
        exception = f"{type(exc).__name__}: {_short(_printable(str(exc)), 300)}{during}"
        return cls(key, exception, raised_at, _last_frames(frames, where))


@dataclass
class ServerError:
    failure: Failure
    probe: Probe  # the smallest request seen to cause it
    persona: str
    methods: set[str] = field(default_factory=set)
    personas: set[str] = field(default_factory=set)
    seen: int = 0


class Findings:
    """The distinct server errors of one URL pattern, each with the smallest request that caused it."""

    def __init__(self, route: Route):
        self.route = route
        self.errors: dict[tuple, ServerError] = {}
        self.requests = 0

    def add(self, persona: str, probe: Probe, failure: Failure) -> None:
        error = self.errors.setdefault(failure.key, ServerError(failure, probe, persona))
        error.seen += 1
        error.methods.add(probe.method)
        error.personas.add(persona)
        if _size(probe) < _size(error.probe):
            error.probe, error.persona, error.failure = probe, persona, failure

    def report(self, sender: Sender) -> str:
        lines = [
            f"{len(self.errors)} distinct server error(s) on {self.route.label} (/{self.route.template}), "
            f"database {connections['default'].vendor}, in {self.requests} requests:"
        ]
        for number, error in enumerate(self.errors.values(), 1):
            lines += [
                f"\n{number}. {error.failure.exception}",
                f"   raised at {error.failure.raised_at}",
                f"   smallest request: {sender.describe(error.probe)}  (as {error.persona})",
                f"   seen {error.seen} time(s), methods {', '.join(sorted(error.methods))}, "
                f"as {', '.join(sorted(error.personas))}",
                "   last frames:",
                *(f"     {line}" for line in error.failure.frames.splitlines()),
            ]
        return "\n".join(lines)


def _size(probe: Probe) -> int:
    return len(repr((probe.params, probe.query, probe.query_tail, probe.body, probe.headers)))


def _last_frames(frames: list[traceback.FrameSummary], ours: traceback.FrameSummary | None) -> str:
    """The studio's deepest frame, and the five where the exception was raised."""
    shown = frames[-6:]
    if ours is not None and ours not in shown:
        shown = [ours, *frames[-5:]]
    return "".join(traceback.format_list(shown)).rstrip()


def _is_ours(filename: str) -> bool:
    path = Path(filename)
    return path.is_relative_to(BASE_DIR) and not path.is_relative_to(BASE_DIR / ".venv") and "tests" not in path.parts


def _relative(filename: str) -> str:
    path = Path(filename)
    return str(path.relative_to(BASE_DIR)) if path.is_relative_to(BASE_DIR) else filename


def _printable(text: str) -> str:
    """Control characters (a NUL, a line break) as escapes, so that the report stays readable."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…({len(text):,} characters)"


def _show(pairs) -> str:
    return "{" + ", ".join(f"{key!r}: {_short(repr(value), 100)}" for key, value in pairs) + "}"


def _smaller(probe: Probe) -> Iterator[Probe]:
    """The probe with one thing fewer: all its headers, one header, the raw tail, one query or body field."""
    if probe.headers:
        yield replace(probe, headers={})
        for name in probe.headers:
            yield replace(probe, headers={key: value for key, value in probe.headers.items() if key != name})
    if probe.query_tail:
        yield replace(probe, query_tail="")
    if probe.encoding != "multipart":
        yield replace(probe, encoding="multipart")
    for part in ("query", "body"):
        pairs = getattr(probe, part)
        for index in range(len(pairs)):
            yield replace(probe, **{part: pairs[:index] + pairs[index + 1 :]})


class Sender:
    MINIMISING_BUDGET = 60  # requests spent making each error's example smaller

    def __init__(self, world: World, route: Route):
        self.world, self.route = world, route
        self.clients = {persona: Client(raise_request_exception=False) for persona in world.sessions}

    def url(self, probe: Probe) -> str:
        resolve = self.world.resolve
        path = self.route.path({name: resolve(value) for name, value in probe.params.items()})
        query = urlencode([(key, resolve(value)) for key, value in probe.query]) + probe.query_tail
        return f"{path}?{query}" if query else path

    def describe(self, probe: Probe) -> str:
        body = [(key, self.world.resolve(value)) for key, value in probe.body]
        content_type, data = self._encode(probe, body)
        described = f"{probe.method} {_short(self.url(probe), 300)}"
        if data and (body or probe.encoding not in ("multipart", "urlencoded")):
            shown = _show(body) if probe.encoding in ("multipart", "urlencoded") else _short(repr(data))
            described += f"  body ({content_type.split(';')[0]}): {shown}"
        if probe.headers:
            described += f"  headers: {_show(probe.headers.items())}"
        return described

    def send(self, persona: str, probe: Probe) -> Failure | None:
        """Make the request as `persona`, in a savepoint that is then rolled back; a 500 is a Failure."""
        body = [(key, self.world.resolve(value)) for key, value in probe.body]
        content_type, data = self._encode(probe, body)
        with transaction.atomic():
            try:
                if self.route.name == "generations:events" and persona != "anonymous":
                    return self._open_stream(persona, probe.method, self.url(probe), probe.headers)
                return self._request(persona, probe.method, self.url(probe), content_type, data, probe.headers)
            finally:
                transaction.set_rollback(True)

    def minimise(self, error: ServerError) -> None:
        """Leave out, one at a time, what the error's request did not need to cause it."""
        budget = self.MINIMISING_BUDGET
        probe, shrunk = error.probe, True
        while shrunk and budget > 0:
            shrunk = False
            for smaller in _smaller(probe):
                budget -= 1
                failure = self.send(error.persona, smaller)
                if failure is not None and failure.key == error.failure.key:
                    probe, shrunk = smaller, True
                    break
                if budget <= 0:
                    break
        error.probe = probe

    def _encode(self, probe: Probe, body: list[tuple[str, str]]) -> tuple[str, bytes]:
        if probe.method not in ("POST", "PUT", "PATCH"):
            return "", b""
        if probe.encoding == "multipart":
            grouped: dict[str, list[str]] = {}
            for key, value in body:
                grouped.setdefault(key, []).append(value)
            return MULTIPART_CONTENT, encode_multipart(BOUNDARY, grouped)
        if probe.encoding == "urlencoded":
            return "application/x-www-form-urlencoded", urlencode(body).encode() + probe.query_tail.encode()
        return RAW_BODIES[int(probe.encoding)]

    def _client(self, persona: str, client_class=None):
        client = self.clients[persona] if client_class is None else client_class(raise_request_exception=False)
        client.cookies = SimpleCookie()
        if key := self.world.sessions[persona]:
            client.cookies[django_settings.SESSION_COOKIE_NAME] = key
        return client

    def _request(self, persona, method, url, content_type, data, headers) -> Failure | None:
        client = self._client(persona)
        response = client.generic(method, url, data, content_type or "application/octet-stream", headers=headers)
        if response.status_code >= 500:
            return Failure.of(response.exc_info[1] if response.exc_info else None)
        if response.streaming:  # a file: read it all, as a browser would (the client closes it after)
            try:
                b"".join(response.streaming_content)
            except Exception as exc:
                return Failure.of(exc, " (while sending the body)")
        return None

    def _open_stream(self, persona: str, method: str, url: str, headers: Mapping[str, str]) -> Failure | None:
        """The live event stream never ends: open it, read its first event, and hang up."""

        async def scenario() -> Failure | None:
            client = self._client(persona, AsyncClient)
            response = await client.generic(method, url, headers=headers)
            if response.status_code >= 500:
                return Failure.of(response.exc_info[1] if response.exc_info else None)
            if response.streaming and response.is_async:
                chunks = aiter(response.streaming_content)
                try:
                    await asyncio.wait_for(anext(chunks), timeout=5)
                finally:
                    await chunks.aclose()
            return None

        # The view lets go of its thread's database connection for the stream's life; here
        # that connection holds the test's transaction, so it must stay open.
        with mock.patch.object(connections, "close_all"):
            return async_to_sync(scenario)()


@st.composite
def probes(draw, route: Route) -> Probe:
    endpoint = route.endpoint
    assert endpoint is not None
    methods = endpoint.methods
    if route.name == "generations:events":
        methods = ("GET",)  # a member's HEAD would leave the stream open
    elif draw(st.integers(0, 9)) == 9:
        methods = OTHER_METHODS
    method = draw(st.sampled_from(methods))
    params = {name: draw(strategy) for name, strategy in route.parameters().items()}
    query = draw(endpoint.query)
    body: Pairs = draw(endpoint.body) if method in ("POST", "PUT", "PATCH") else []
    encoding = draw(st.sampled_from(["multipart"] * 7 + ["urlencoded"] * 2 + ["raw"]))
    if encoding == "raw":
        encoding = str(draw(st.integers(0, len(RAW_BODIES) - 1)))
    return Probe(
        method=method,
        params=params,
        query=tuple(query),
        query_tail=draw(s.raw_tails()) if draw(st.integers(0, 4)) == 4 else "",
        body=tuple(body),
        encoding=encoding,
        headers=draw(endpoint.headers),
    )


def _render_plainly(template: Template, context) -> str:
    return template.nodelist.render(context)


@contextmanager
def lean_requests() -> Iterator[None]:
    """Thousands of requests, without what only slows them down here: Django logging every
    4xx and 5xx, and the test client copying every template's context as it renders."""
    loggers = [logging.getLogger(name) for name in ("django.request", "django.security")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        with mock.patch.object(Template, "_render", _render_plainly):
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
