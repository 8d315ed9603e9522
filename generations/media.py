"""Serving stored videos to the people allowed to see them, with HTTP Range for seeking."""

from __future__ import annotations

import re
from collections.abc import Iterator

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse

CHUNK = 256 * 1024
RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def ranged_file_response(request: HttpRequest, file: FieldFile, content_type: str) -> HttpResponse:
    if not file or not file.storage.exists(file.name):
        raise Http404("No such file")
    size = file.size
    match = RANGE.match(request.headers.get("Range", "").strip())
    if not match or match.groups() == ("", ""):
        response = FileResponse(file.open("rb"), content_type=content_type)
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
        response = StreamingHttpResponse(_read_range(file, start, end), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _read_range(file: FieldFile, start: int, end: int) -> Iterator[bytes]:
    with file.open("rb") as handle:
        handle.seek(start)
        remaining = end - start + 1
        while remaining > 0 and (chunk := handle.read(min(CHUNK, remaining))):
            remaining -= len(chunk)
            yield chunk
