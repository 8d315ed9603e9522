"""Status changes pushed to the pages that show them: Redis pub/sub, one channel per team.

A worker that changes a generation's status announces it once the change is committed;
each open page holds a server-sent event stream of its team's channel and refreshes the
card named in the event. A message lost while Redis is away costs nothing for long: the
page's stream breaks with it, and a page whose stream reconnects refreshes its cards.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import redis
import redis.asyncio
from django.conf import settings
from django.db import transaction

if TYPE_CHECKING:
    from generations.models import Generation

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "kling-studio:team:"
HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
STREAM_LIFETIME = 300.0  # then the browser reconnects, and the team is looked up again
RECONNECT_MILLISECONDS = 2000


def channel(team_id: int) -> str:
    return f"{CHANNEL_PREFIX}{team_id}"


def event_name(generation_id: int) -> str:
    """The server-sent event a card listens for (`hx-trigger="sse:generation-<id>"`)."""
    return f"generation-{generation_id}"


def announce(generation: Generation) -> None:
    """Tell the team's open pages that this generation's status changed, after the commit."""
    message = json.dumps({"id": generation.pk, "status": generation.status})
    team_channel = channel(generation.team_id)
    transaction.on_commit(lambda: _publish(team_channel, message))


def _publish(team_channel: str, message: str) -> None:
    try:
        _client(settings.REDIS_URL).publish(team_channel, message)
    except redis.RedisError as exc:
        logger.warning("Could not announce a status change on %s: %s", team_channel, exc)


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def as_event(data: bytes | str) -> str | None:
    """A published message as a server-sent event, or None if it is not one of ours."""
    try:
        message = json.loads(data)
        generation_id, status = int(message["id"]), str(message["status"])
    except (TypeError, ValueError, KeyError):
        return None
    if not status.isidentifier():
        return None
    # The card listens for its own event; "news" names the generation for the page's script,
    # which must hear every change whatever cards come and go (static/live.js).
    return f"event: {event_name(generation_id)}\ndata: {status}\n\nevent: news\ndata: {generation_id}\n\n"


async def subscribe(team_id: int) -> AsyncIterator[str]:
    """The team's status changes as server-sent events, until the stream's lifetime ends.

    Raises RedisError at once when Redis cannot be reached; once listening, the stream ends
    quietly if Redis goes away, and the browser reconnects by itself.
    """
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(channel(team_id))
    except BaseException:
        await pubsub.aclose()
        await client.aclose()
        raise
    return _events(team_id, client, pubsub)


async def _events(team_id: int, client: redis.asyncio.Redis, pubsub) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    try:
        yield f"retry: {RECONNECT_MILLISECONDS}\n: listening\n\n"  # opens the browser's EventSource at once
        closes_at = loop.time() + STREAM_LIFETIME
        next_heartbeat = loop.time() + HEARTBEAT_SECONDS
        while (now := loop.time()) < closes_at:
            # None comes after the timeout, or at once for a message it skips (a subscription's).
            wait = min(next_heartbeat, closes_at) - now
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=max(wait, 0.0))
            if message is not None and (event := as_event(message["data"])):
                yield event
                next_heartbeat = loop.time() + HEARTBEAT_SECONDS
            elif loop.time() >= next_heartbeat:
                yield ": still here\n\n"
                next_heartbeat = loop.time() + HEARTBEAT_SECONDS
    except (redis.RedisError, OSError) as exc:
        logger.warning("The live stream of team %s lost Redis: %s", team_id, exc)
    finally:
        await pubsub.aclose()
        await client.aclose()
