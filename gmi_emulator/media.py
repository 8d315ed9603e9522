"""Byte ranges for serving the rendered media (RFC 9110, single ranges only)."""

from __future__ import annotations

import re

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
MEDIA_NAME_RE = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(mp4|jpg)$")
CONTENT_TYPES = {"mp4": "video/mp4", "jpg": "image/jpeg"}


class Unsatisfiable(ValueError):
    """The Range header cannot be satisfied for this file (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Inclusive ``(first, last)`` byte positions, or None to send the whole file.

    Malformed or multi-range headers are ignored (the whole file is sent), as
    the RFC allows; a well-formed range that does not overlap the file raises
    Unsatisfiable.
    """
    if not header:
        return None
    match = RANGE_RE.match(header.strip())
    if match is None:
        return None
    first_s, last_s = match.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # bytes=-n: the last n bytes
        suffix = int(last_s)
        if suffix == 0 or size == 0:
            raise Unsatisfiable(header)
        return max(0, size - suffix), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size:
        raise Unsatisfiable(header)
    if last < first:
        return None
    return first, min(last, size - 1)
