"""Serving stored videos and thumbnails to the people allowed to see them.

The view checks who may see a file (others get 404); then the bytes go the shortest way:

* files in a bucket: a redirect to a link presigned for at most an hour, so the browser
  reads them from the bucket, HTTP Range included, and no worker of ours holds the stream;
* files on the local disk behind nginx (MEDIA_ACCEL_REDIRECT_PREFIX): `X-Accel-Redirect` to
  nginx's internal location, which sends the file, HTTP Range included;
* otherwise, in development: the studio streams the file itself, with HTTP Range for
  seeking. Under the ASGI server the bytes go out through an asynchronous iterator: Django
  reads a synchronous one whole into memory before sending it there.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from typing import IO
from urllib.parse import quote

from django.conf import settings
from django.core import checks
from django.core.files.storage import default_storage
from django.core.handlers.asgi import ASGIRequest
from django.db.models.fields.files import FieldFile
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.utils.http import content_disposition_header

from generations.objectstorage import is_object_storage

CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d{1,18})?-(\d{1,18})?$")
CACHE_SECONDS = 3600


def file_response(
    request: HttpRequest,
    file: FieldFile,
    content_type: str,
    *,
    attachment: str | None = None,
    link_seconds: int | None = None,
) -> HttpResponseBase:
    """The stored `file`, for someone already allowed to see it; `attachment` names a download.

    `link_seconds` shortens the life of a presigned link, for a permission that may be
    withdrawn (a share link): a link handed out works for at most that long afterwards.
    """
    if not file:
        raise Http404("No such file")
    if is_object_storage(file.storage):
        return presigned_redirect(file, content_type, attachment, link_seconds)
    if settings.MEDIA_ACCEL_REDIRECT_PREFIX:
        return accel_redirect(file, content_type, attachment)
    return ranged_file_response(request, file, content_type, attachment)


@checks.register(checks.Tags.security, deploy=True)
def check_media_is_not_streamed_by_the_studio(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if settings.DEBUG or settings.MEDIA_ACCEL_REDIRECT_PREFIX or is_object_storage(default_storage):
        return []
    return [
        checks.Warning(
            "The studio streams videos itself: each playing video holds a web worker for as long as it plays.",
            hint="Set AWS_STORAGE_BUCKET_NAME (files in a bucket), or MEDIA_ACCEL_REDIRECT_PREFIX behind nginx.",
            id="generations.W001",
        )
    ]


def presigned_redirect(
    file: FieldFile, content_type: str, attachment: str | None, link_seconds: int | None = None
) -> HttpResponseRedirect:
    """A redirect to the bucket. Each link is signed anew, so the browser may keep the
    redirect for half the link's life: a page that shows the same thumbnail again, or a
    player that asks again, reuses it while it still has at least half its life to run."""
    expire = min(file.storage.querystring_expire, link_seconds or file.storage.querystring_expire)
    parameters = {"ResponseContentType": content_type, "ResponseCacheControl": f"private, max-age={expire}"}
    if attachment:
        parameters["ResponseContentDisposition"] = content_disposition_header(as_attachment=True, filename=attachment)
    response = HttpResponseRedirect(file.storage.url(file.name, parameters=parameters, expire=expire))
    response["Cache-Control"] = f"private, max-age={expire // 2}"
    return response


def accel_redirect(file: FieldFile, content_type: str, attachment: str | None) -> HttpResponse:
    """No body: nginx replaces it with the file at its internal location. It keeps this
    response's Content-Type, Content-Disposition and Cache-Control."""
    response = HttpResponse(content_type=content_type)
    response["X-Accel-Redirect"] = settings.MEDIA_ACCEL_REDIRECT_PREFIX + quote(file.name)
    response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
    if attachment:
        response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=attachment)
    return response


def ranged_file_response(
    request: HttpRequest, file: FieldFile, content_type: str, attachment: str | None = None
) -> HttpResponse:
    if not file or not file.storage.exists(file.name):
        raise Http404("No such file")
    size = file.size
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == (None, None):
        response = stream_response(request, file.open("rb"), size, content_type, attachment=attachment)
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
        response = stream_response(
            request, file.open("rb"), end - start + 1, content_type, start=start, status=206, attachment=attachment
        )
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = f"private, max-age={CACHE_SECONDS}"
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
