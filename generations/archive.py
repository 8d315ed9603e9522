"""The bulk download: the selected videos in one zip, streamed as it is built.

Each video is looked up and read from the storage only when the zip reaches it (from a
bucket, a HEAD and one streamed GET), so the first bytes leave at once and memory stays
flat whatever the selection. Each file in the zip is dated when its generation finished.

MP4s are compressed already. stream-zip writes a file it has not read yet only as deflate
(the size and checksum follow the data), so the videos go in as deflate's stored blocks
(level 0): a copy and a checksum, no compression work.
"""

from __future__ import annotations

import itertools
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


def members_of(generations: Iterable[Generation]) -> Iterator[Member]:
    """The videos of `generations` that are in the storage (files can go missing), each
    looked up only when the zip reaches it."""
    for generation in generations:
        video = generation.video
        if not video:
            continue
        try:
            size = video.storage.size(video.name)
        except FileNotFoundError:
            continue
        finished = timezone.localtime(generation.finished_at or generation.created_at)
        yield Member(generation.download_filename, finished, size, video.storage, video.name)


def zip_response(generations: list[Generation]) -> StreamingHttpResponse:
    with_video = [generation for generation in generations if generation.video]
    members = members_of(with_video)
    if (first := next(members, None)) is None:
        raise Http404("None of the selected generations has a video yet")
    response = StreamingHttpResponse(
        stream_zip(_member_files(itertools.chain([first], members))), content_type="application/zip"
    )
    name = f"kling-studio-{len(with_video)}-videos.zip"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


def _member_files(members: Iterable[Member]) -> Iterator[MemberFile]:
    for member in members:
        method = ZIP_AUTO(member.size, level=0)
        yield member.name, member.modified_at, FILE_MODE, method, read_in_chunks(member.storage, member.stored_name)
