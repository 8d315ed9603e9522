"""Copying a finished video and its thumbnail into our storage, under the store's hold.

The tick hands a generation over with a token; only the holder of that token may mark it
done. A copy that fails forgets the service's links (they expire) and makes the generation
due for a refresh, which brings fresh links and a new attempt, up to MAX_STORE_ATTEMPTS.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from generations.downloads import DownloadPolicy, fetch
from generations.gmi import DownloadRefused, GMIError
from generations.models import Generation
from generations.objectstorage import is_object_storage
from kling_studio.observability import bind

logger = logging.getLogger(__name__)

MAX_STORE_ATTEMPTS = 5


def store_files(generation_id: int, token: str) -> str:
    """Download the outcome of a generation held with `token`; says what became of it."""
    generation = Generation.objects.filter(
        pk=generation_id, lease_token=token, status__in=Generation.AT_SERVICE
    ).first()
    if generation is None or not token:
        return "not held"  # a duplicate delivery, or the hold ran out and a tick took the row back
    bind(generation)
    remove_abandoned_downloads()
    policy = DownloadPolicy.from_settings()
    saved: list[str] = []
    try:
        saved.append(download_into_storage(policy, generation.video_url, generation, "video.mp4"))
        if generation.thumbnail_url:
            saved.append(download_into_storage(policy, generation.thumbnail_url, generation, "thumbnail.jpg"))
    except GMIError as exc:
        for name in saved:
            default_storage.delete(name)
        return _store_failed(generation, token, exc)
    video_name, thumbnail_name = saved[0], saved[1] if len(saved) > 1 else ""
    if not generation.succeed(token, video_name, thumbnail_name):
        # Deleted, ended, or taken back by a tick while the files were on their way.
        for name in saved:
            default_storage.delete(name)
        return "not held"
    logger.info("Generation %s stored", generation.pk)
    return "stored"


def _store_failed(generation: Generation, token: str, exc: GMIError) -> str:
    attempts = generation.store_attempts + 1
    if isinstance(exc, DownloadRefused) or attempts >= MAX_STORE_ATTEMPTS:
        tried = "" if isinstance(exc, DownloadRefused) else f" The studio tried {attempts} times."
        generation.fail(f"The finished video could not be stored: {exc.message.rstrip('.')}.{tried}")
        return "failed"
    wait = min(2.0**attempts, 60.0)
    logger.warning("Storing generation %s failed (%s); asking for fresh links in %.0f s", generation.pk, exc, wait)
    generation.retry_store(token, timezone.now() + timedelta(seconds=wait))
    return "retry"


def download_into_storage(policy: DownloadPolicy, url: str, generation: Generation, filename: str) -> str:
    """Stream to a temporary file, then move it into place under media storage."""
    temp_dir = downloads_dir()
    temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=temp_dir, suffix=Path(filename).suffix, delete=False) as handle:
        try:
            fetch(url, handle, policy)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    name = generation.video.field.generate_filename(generation, filename)
    try:
        with open(handle.name, "rb") as downloaded:
            return default_storage.save(name, _MovableFile(downloaded, handle.name))
    finally:
        Path(handle.name).unlink(missing_ok=True)  # moved into place already, unless the storage copies


def downloads_dir() -> Path:
    """Where downloads wait to be stored. Beside the files on the local disk, so storing one
    is a rename; for a bucket, in this machine's own temporary directory (TMPDIR): workers
    on several machines share nothing but the bucket."""
    if is_object_storage(default_storage):
        return Path(tempfile.gettempdir()) / "kling-studio-downloads"
    return Path(settings.MEDIA_ROOT) / "tmp"


def remove_abandoned_downloads() -> int:
    """Delete the temporary files of downloads that no store can still be writing: older
    than a store's whole hold, they were left by a worker killed mid-download. Recovery runs
    this, and so does every store, on the machine whose downloads directory it is."""
    too_old = time.time() - settings.GENERATION_STORE_LEASE
    removed = 0
    for path in downloads_dir().glob("tmp*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file() and path.stat().st_mtime < too_old:
                path.unlink()
                removed += 1
    return removed


class _MovableFile(File):
    """Lets FileSystemStorage move the temporary file into place instead of copying it; a
    bucket's storage uploads it (in parts, when it is large)."""

    def temporary_file_path(self) -> str:
        return self.name
