"""The bulk download: the selected videos in one zip, streamed as it is built.

Each video is read from the storage only when the zip reaches it (from a bucket, one
streamed GET), so the first bytes leave at once and memory stays flat whatever the
selection. Each file in the zip is dated when its generation finished.

MP4s are compressed already. stream-zip writes a file it has not read yet only as deflate
(the size and checksum follow the data), so the videos go in as deflate's stored blocks
(level 0): a copy and a checksum, no compression work.
"""

from __future__ import annotations

import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.core.files.storage import Storage
from django.http import Http404, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from stream_zip import ZIP_AUTO, MemberFile, stream_zip

from generations.models import Generation
from generations.objectstorage import read_in_chunks

FILE_MODE = stat.S_IFREG | 0o644


@dataclass(frozen=True)
class Member:
    name: str  # in the zip
    modified_at: datetime
    size: int
    storage: Storage
    stored_name: str


def members_of(generations: Iterable[Generation]) -> list[Member]:
    """The videos of `generations` that are in the storage (files can go missing)."""
    members = []
    for generation in generations:
        if not generation.video:
            continue
        try:
            size = generation.video.storage.size(generation.video.name)
        except FileNotFoundError:
            continue
        finished = timezone.localtime(generation.finished_at or generation.created_at)
        video = generation.video
        members.append(Member(generation.download_filename, finished, size, video.storage, video.name))
    return members


def zip_response(generations: Iterable[Generation]) -> StreamingHttpResponse:
    members = members_of(generations)
    if not members:
        raise Http404("None of the selected generations has a video yet")
    response = StreamingHttpResponse(stream_zip(_member_files(members)), content_type="application/zip")
    name = f"kling-studio-{len(members)}-videos.zip"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


def _member_files(members: list[Member]) -> Iterator[MemberFile]:
    for member in members:
        method = ZIP_AUTO(member.size, level=0)
        yield member.name, member.modified_at, FILE_MODE, method, read_in_chunks(member.storage, member.stored_name)
