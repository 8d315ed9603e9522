"""Status changes reach open pages: announced on Redis after the commit, streamed as events."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient
from django.urls import reverse

from accounts.models import Team
from generations import live
from generations.models import Generation
from kling_studio.localservices import free_port
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener(redis_url):
    """A Redis subscriber, as an open page's stream is."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    yield pubsub
    pubsub.close()
    client.close()


def next_message(pubsub, timeout: float = 5) -> dict | None:
    message = pubsub.get_message(timeout=timeout)
    return json.loads(message["data"]) if message else None


def test_a_status_change_is_announced_to_the_team_once_it_is_committed(
    owner, listener, django_capture_on_commit_callbacks
):
    generation = make_generation(owner, status=Generation.Status.QUEUED, request_id="r-1")
    listener.subscribe(live.channel(generation.team_id))
    listener.get_message(timeout=1)  # the subscription's confirmation
    with django_capture_on_commit_callbacks(execute=False) as pending:
        generation.fail("Content moderation rejected the prompt")
    assert next_message(listener, timeout=0.5) is None  # not before the commit
    for callback in pending:
        callback()
    assert next_message(listener) == {"id": generation.pk, "status": "failed"}


def test_a_change_that_did_not_happen_is_not_announced(owner, listener, django_capture_on_commit_callbacks):
    generation = make_generation(owner)
    generation.fail("first")
    with django_capture_on_commit_callbacks() as pending:
        assert not generation.fail("second")  # already final
    assert pending == []


def test_only_our_own_messages_become_events():
    assert live.as_event(b'{"id": 7, "status": "processing"}') == (
        "event: generation-7\ndata: processing\n\nevent: news\ndata: 7\n\n"
    )
    for odd in [b"not json", b'{"id": "x", "status": "done"}', b'{"id": 7}', b'{"id": 7, "status": "a\\nb"}']:
        assert live.as_event(odd) is None


def read_stream(user, publish_to: Team | None, message: dict) -> tuple[int, list[str]]:
    """Open `user`'s event stream, publish `message` on `publish_to`'s channel, and return
    the status code and what the stream said within a second."""

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        response = await client.get(reverse("generations:events"))
        if response.status_code != 200:
            return response.status_code, []
        chunks = aiter(response.streaming_content)
        said = [(await anext(chunks)).decode()]
        if publish_to is not None:
            await sync_to_async(live._publish)(live.channel(publish_to.pk), json.dumps(message))
        with contextlib.suppress(TimeoutError):  # nothing more to hear
            said.append((await asyncio.wait_for(anext(chunks), timeout=1)).decode())
        await chunks.aclose()
        return response.status_code, said

    return async_to_sync(scenario)()


def test_a_member_hears_the_teams_changes_as_named_events(owner):
    team = Team.objects.for_user(owner).get()
    status, said = read_stream(owner, team, {"id": 42, "status": "processing"})
    assert status == 200
    assert said[0].startswith("retry: 2000\n")  # the browser reconnects 2 s after a cut
    assert said[1:] == ["event: generation-42\ndata: processing\n\nevent: news\ndata: 42\n\n"]


def test_an_outsider_hears_nothing_of_another_team(owner, outsider):
    status, said = read_stream(outsider, Team.objects.for_user(owner).get(), {"id": 42, "status": "processing"})
    assert status == 200
    assert len(said) == 1  # only the stream's opening


def test_without_redis_the_stream_is_refused_and_the_page_polls(owner, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    status, _ = read_stream(owner, None, {})
    assert status == 503


def test_a_stranger_is_sent_to_log_in(client):
    response = client.get(reverse("generations:events"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
