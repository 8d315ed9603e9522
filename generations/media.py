"""Serving stored videos to the people allowed to see them, with HTTP Range for seeking.

Under the ASGI server the bytes go out through an asynchronous iterator: Django reads a
synchronous one whole into memory before sending it there, which for a video (or a zip
of a hundred) is the wrong thing to do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import IO

from django.core.handlers.asgi import ASGIRequest
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d{1,18})?-(\d{1,18})?$")


def ranged_file_response(request: HttpRequest, file: FieldFile, content_type: str) -> HttpResponse:
    if not file or not file.storage.exists(file.name):
        raise Http404("No such file")
    size = file.size
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == (None, None):
        response = stream_response(request, file.open("rb"), size, content_type)
    else:
        first, last = match.groups()
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(size - int(last), 0), size - 1
        if start > end or start >= size:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        response = stream_response(request, file.open("rb"), end - start + 1, content_type, start=start, status=206)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def stream_response(
    request: HttpRequest,
    handle: IO[bytes],
    length: int,
    content_type: str,
    *,
    start: int = 0,
    status: int = 200,
    attachment: str | None = None,
) -> StreamingHttpResponse:
    """`length` bytes of an open file from `start`, closing it when done."""
    if isinstance(request, ASGIRequest):
        content: Iterator[bytes] | AsyncIterator[bytes] = _read_async(handle, start, length)
    else:
        content = _read(handle, start, length)
    response = StreamingHttpResponse(content, status=status, content_type=content_type)
    response["Content-Length"] = str(length)
    if attachment:
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=attachment)
    return response


def _read(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        while length > 0 and (chunk := handle.read(min(CHUNK, length))):
            length -= len(chunk)
            yield chunk


async def _read_async(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(handle.seek, start)
        while length > 0 and (chunk := await asyncio.to_thread(handle.read, min(CHUNK, length))):
            length -= len(chunk)
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
