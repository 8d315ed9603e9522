"""No input makes the studio answer 500: generated requests to every URL, from every kind of visitor.

Hypothesis draws requests for each URL pattern (path parameters, query string, form
fields, headers, the method) and sends each one as the team's owner, as a plain member
of the team, as an outsider (logged in, in a team of their own) and as a logged-out
visitor; the admin's URLs as a visitor, a non-staff member and a superuser. An answer of
500 (an exception no view handled) is recorded with the exception's type and the line of
the studio's code it came through; at the end the test for that URL fails, listing each
distinct one with the shortest request that caused it. Every request runs in a savepoint
that is rolled back, so each starts from the same data whatever the one before did
(deleting, leaving, renaming, signing up).

A new URL pattern without an entry in ENDPOINTS fails `test_every_url_pattern_is_fuzzed`
(and its own case of `test_no_input_makes_a_server_error`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, example, given
from hypothesis import settings as hypothesis_settings

from kling_studio.health import ALIVE_KEY, record_heartbeat, record_worker_alive
from tests.fuzz_endpoints import (
    ENDPOINTS,
    Probe,
)
from tests.fuzz_world import World, build_world
from tests.fuzzing import (
    ROUTES,
    Findings,
    Route,
    Sender,
    lean_requests,
    probes,
)

pytestmark = pytest.mark.django_db


def test_every_url_pattern_is_fuzzed():
    """A new URL must get an entry in ENDPOINTS (and a removed one lose it)."""
    missing = [route.template for route in ROUTES if route.endpoint is None]
    assert not missing, f"URL patterns with no entry in ENDPOINTS (tests/fuzz_endpoints.py): {missing}"
    stale = set(ENDPOINTS) - {route.name for route in ROUTES}
    assert not stale, f"ENDPOINTS names URL patterns that no longer exist: {sorted(stale)}"
    studio = [route for route in ROUTES if not route.template.startswith("admin/")]
    assert len(studio) == len(ENDPOINTS), "two URL patterns share a name; give each its own entry"


@pytest.fixture
def world(django_user_model, settings) -> Iterator[World]:
    settings.DEBUG_PROPAGATE_EXCEPTIONS = False  # an exception becomes a 500, as in production
    settings.HEALTH_WORKER_MAX_AGE = 3600  # a worker and beat are alive, for the whole run: /health/
    record_worker_alive()  # answers 200, and a 503 there is a finding
    record_heartbeat()
    yield build_world(django_user_model)
    cache.delete(ALIVE_KEY)


@pytest.mark.parametrize("route", ROUTES, ids=[route.label for route in ROUTES])
def test_no_input_makes_a_server_error(route: Route, world: World):
    endpoint = route.endpoint
    if endpoint is None:
        pytest.fail(f"{route.template} has no entry in ENDPOINTS: say what to send it")
    findings = Findings(route)
    sender = Sender(world, route)

    @hypothesis_settings(
        max_examples=endpoint.examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(probe=probes(route))
    def send_to_everyone(probe: Probe) -> None:
        for persona in endpoint.personas:
            findings.requests += 1
            if failure := sender.send(persona, probe):
                findings.add(persona, probe, failure)

    for seed in endpoint.seeds:
        send_to_everyone = example(probe=seed)(send_to_everyone)
    with lean_requests():
        send_to_everyone()
        for error in findings.errors.values():
            sender.minimise(error)
    if findings.errors:
        pytest.fail(findings.report(sender), pytrace=False)
