"""`/metrics`: the studio's figures for Prometheus, only for those allowed to scrape.

The figures are read at the scrape: from the database (the generations) and from Redis
(what workers counted), so a worker on another machine shows in any web process's answer.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from generations.gmi import GMIClient, NotFoundError
from generations.models import Generation
from generations.tasks import refresh_due_generations, submit_generation
from tests.conftest import wait_for
from tests.factories import make_generation

pytestmark = pytest.mark.django_db

TOKEN = "a-metrics-token-long-enough"
OUTSIDER = "203.0.113.7"


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    """The figures, by (sample name, sorted labels)."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_from_this_machine_without_settings_they_are_shown(client):
    figures = scrape(client)  # the test client comes from 127.0.0.1
    assert ("kling_generations_in_flight", ()) in figures
    assert figures[("kling_metrics_source_up", (("source", "database"),))] == 1
    assert figures[("kling_metrics_source_up", (("source", "redis"),))] == 1


@pytest.mark.parametrize("address", [OUTSIDER, "10.1.2.3", "::ffff:203.0.113.7", "2001:db8::1"])
def test_from_elsewhere_without_settings_they_are_refused(client, address):
    response = client.get("/metrics", REMOTE_ADDR=address)
    assert response.status_code == 403
    assert b"kling_" not in response.content


def test_with_a_token_set_only_its_bearer_gets_them(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 403
    assert client.get("/metrics").status_code == 403  # not even from this machine, without it
    for wrong in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}", "Bearer", "Bearer é"):
        assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=wrong).status_code == 403, wrong
    assert ("kling_generations_in_flight", ()) in scrape(
        client, REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )


def test_allowed_networks_get_them_and_other_addresses_do_not(client, settings):
    settings.METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="fd00::5").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403  # the networks say who, now
    settings.METRICS_TOKEN = TOKEN  # either is enough
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDER, HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_generations_are_counted_by_status_and_in_flight(client, ada):
    for _ in range(3):
        make_generation(ada, status=Generation.Status.QUEUED, request_id=None)
    make_generation(ada, status=Generation.Status.PROCESSING)
    make_generation(ada, status=Generation.Status.SUCCESS)
    make_generation(ada, status=Generation.Status.FAILED)
    figures = scrape(client)
    assert figures[("kling_generations", (("status", "queued"),))] == 3
    assert figures[("kling_generations", (("status", "processing"),))] == 1
    assert figures[("kling_generations", (("status", "success"),))] == 1
    assert figures[("kling_generations", (("status", "pending"),))] == 0
    assert figures[("kling_generations_in_flight", ())] == 4


def test_the_oldest_due_refresh_shows_how_late_the_poller_is(client, ada):
    assert scrape(client)[("kling_generations_oldest_due_refresh_seconds", ())] == 0
    now = timezone.now()
    make_generation(ada, status=Generation.Status.QUEUED, request_id="r-1", next_poll_at=now - timedelta(seconds=40))
    make_generation(ada, status=Generation.Status.QUEUED, request_id="r-2", next_poll_at=now - timedelta(seconds=5))
    make_generation(ada, status=Generation.Status.QUEUED, request_id="r-3", next_poll_at=now + timedelta(seconds=60))
    assert 40 <= scrape(client)[("kling_generations_oldest_due_refresh_seconds", ())] < 60


def test_api_calls_are_counted_by_endpoint_and_outcome(client, studio_api):
    def calls(endpoint: str, outcome: str) -> float:
        labels = (("endpoint", endpoint), ("outcome", outcome))
        return scrape(client).get(("kling_gmi_api_requests_total", labels), 0)

    before = calls("get_model", "ok"), calls("get_request", "not_found")
    api = GMIClient.from_settings()
    api.get_model()
    api.get_model()
    with pytest.raises(NotFoundError):
        api.get_request("no-such-request")
    assert (calls("get_model", "ok"), calls("get_request", "not_found")) == (before[0] + 2, before[1] + 1)


def test_the_time_since_the_last_tick_is_shown(client, studio_api):
    refresh_due_generations()
    assert 0 <= scrape(client)[("kling_worker_last_tick_seconds", ())] < 30


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_what_a_worker_process_counts_shows_in_the_web_process(client, studio_api, celery_worker, beat, ada):
    def count(name: str, **labels) -> float:
        return scrape(client).get((name, tuple(sorted(labels.items()))), 0)

    submits = count("kling_generation_submit_seconds_count", outcome="sent")
    stores = count("kling_generation_store_seconds_count", outcome="stored")
    sent = count("kling_gmi_api_requests_total", endpoint="submit", outcome="ok")
    generation = make_generation(ada, prompt="A lighthouse counted by Prometheus")
    submit_generation.delay(generation.pk)

    def stored():
        generation.refresh_from_db()
        return generation.is_final

    wait_for(stored, timeout=90, message="the generation to be stored by the worker")
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    assert count("kling_generation_submit_seconds_count", outcome="sent") == submits + 1
    assert count("kling_generation_store_seconds_count", outcome="stored") == stores + 1
    assert count("kling_gmi_api_requests_total", endpoint="submit", outcome="ok") == sent + 1
    assert count("kling_generation_store_seconds_bucket", outcome="stored", le="+Inf") == stores + 1
    assert count("kling_generation_store_seconds_sum", outcome="stored") > 0
