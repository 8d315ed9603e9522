"""Responses streamed from synchronous iterators, made safe to serve under the ASGI server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest


def async_streaming_middleware(get_response):
    """Hand a synchronous stream (WhiteNoise's static files) to ASGI one chunk at a time.

    Left alone, Django's ASGI handler reads such a stream whole into memory before sending
    it, with a warning. Placed above WhiteNoise, so it sees the files WhiteNoise answers.
    """

    def middleware(request):
        response = get_response(request)
        if isinstance(request, ASGIRequest) and response.streaming and not response.is_async:
            response.streaming_content = _one_chunk_at_a_time(response.streaming_content)
        return response

    return middleware


async def _one_chunk_at_a_time(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    iterator = iter(chunks)
    while (chunk := await sync_to_async(next, thread_sensitive=False)(iterator, None)) is not None:
        yield chunk
