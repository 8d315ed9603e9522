"""How files reach a member: nginx sends them (X-Accel-Redirect), and the bulk zip streams from
the storage as it is built, on the local disk and in a bucket alike. (The studio's own
streaming, with Range, is in test_views.py; the bucket's redirects in test_object_storage.py.)
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.base import ContentFile
from django.http import StreamingHttpResponse
from django.urls import reverse

from generations.media import check_media_is_not_streamed_by_the_studio
from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def stored(user, video: bytes = b"\x00\x00\x00\x18ftypmp42" + b"v" * 500, **fields) -> Generation:
    generation = make_generation(user, status=Generation.Status.SUCCESS, **fields)
    generation.video.save("video.mp4", ContentFile(video), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff" + b"t" * 100), save=False)
    generation.save()
    return generation


# Behind nginx.


@pytest.mark.parametrize(("name", "content_type"), [("video", "video/mp4"), ("thumbnail", "image/jpeg")])
def test_behind_nginx_a_member_gets_the_file_from_nginx_and_no_bytes_from_the_studio(
    client, ada, settings, name, content_type
):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    generation = stored(ada)
    client.force_login(ada)
    answer = client.get(reverse(f"generations:{name}", args=[generation.pk]), HTTP_RANGE="bytes=10-19")
    assert answer.status_code == 200  # nginx answers the Range itself, 206 and all
    stored_name = getattr(generation, name).name  # generations/<id>/video.mp4, or video_<random>.mp4
    assert answer["X-Accel-Redirect"] == f"/protected-media/{stored_name}"
    assert answer["Content-Type"] == content_type
    assert answer.content == b""
    assert not answer.streaming


def test_behind_nginx_a_download_keeps_its_name_and_an_outsider_gets_404(client, ada, outsider, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    generation = stored(ada, prompt="A Red Fox, running through SNOW!")
    client.force_login(ada)
    answer = client.get(reverse("generations:download", args=[generation.pk]))
    assert answer["X-Accel-Redirect"] == f"/protected-media/{generation.video.name}"
    assert answer["Content-Disposition"] == f'attachment; filename="a-red-fox-running-through-snow-{generation.pk}.mp4"'
    assert answer.content == b""
    client.force_login(outsider)
    for name in ("video", "thumbnail", "download"):
        refused = client.get(reverse(f"generations:{name}", args=[generation.pk]))
        assert refused.status_code == 404
        assert not refused.has_header("X-Accel-Redirect")


def test_behind_nginx_a_generation_without_a_video_is_not_found(client, ada, settings):
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    generation = make_generation(ada, status=Generation.Status.PROCESSING)
    client.force_login(ada)
    answer = client.get(reverse("generations:video", args=[generation.pk]))
    assert answer.status_code == 404
    assert not answer.has_header("X-Accel-Redirect")


# The bulk zip.


@pytest.fixture(params=["disk", "bucket"])
def storage(request):
    """Each zip test twice: files on the local disk, and files in the S3 bucket."""
    if request.param == "bucket":
        request.getfixturevalue("object_storage")
    return request.param


def test_the_zip_streams_as_it_is_built_with_each_video_dated_when_it_finished(client, ada, storage):
    finished_at = [datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC) + timedelta(days=n, minutes=n) for n in range(3)]
    videos = [bytes([n]) * 300_000 for n in range(3)]
    picks = [
        stored(ada, video, prompt=f"clip number {n}", finished_at=when)
        for n, (video, when) in enumerate(zip(videos, finished_at, strict=True))
    ]
    client.force_login(ada)
    response = client.post(reverse("generations:bulk"), {"action": "download", "ids": [g.pk for g in picks]})

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="kling-studio-3-videos.zip"'
    assert not response.has_header("Content-Length")
    chunks = iter(response.streaming_content)
    first = next(chunks)
    assert first.startswith(b"PK\x03\x04")  # the first file's header, sent before the rest is read
    assert len(first) < len(videos[0])
    archive = zipfile.ZipFile(io.BytesIO(first + b"".join(chunks)))
    assert archive.testzip() is None
    for generation, video, when in zip(picks, videos, finished_at, strict=True):
        info = archive.getinfo(generation.download_filename)
        assert archive.read(info) == video
        assert info.date_time == (when.year, when.month, when.day, when.hour, when.minute, when.second // 2 * 2)


def test_the_zip_leaves_out_what_has_no_video_and_only_nothing_at_all_is_not_found(client, ada, storage):
    done = stored(ada, prompt="the one that finished")
    unfinished = make_generation(ada, prompt="still on its way", status=Generation.Status.PROCESSING)
    missing = stored(ada, prompt="its file went missing")
    missing.video.storage.delete(missing.video.name)
    client.force_login(ada)
    response = client.post(
        reverse("generations:bulk"), {"action": "download", "ids": [done.pk, unfinished.pk, missing.pk]}
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert archive.namelist() == [done.download_filename]
    nothing = client.post(reverse("generations:bulk"), {"action": "download", "ids": [unfinished.pk, missing.pk]})
    assert nothing.status_code == 404


# A deployment.


def test_a_deployment_that_would_stream_videos_through_the_studio_is_warned(settings):
    settings.DEBUG = False
    assert [message.id for message in check_media_is_not_streamed_by_the_studio()] == ["generations.W001"]
    settings.MEDIA_ACCEL_REDIRECT_PREFIX = "/protected-media/"
    assert check_media_is_not_streamed_by_the_studio() == []


def test_a_deployment_with_a_bucket_is_not_warned(settings, object_storage):
    settings.DEBUG = False
    assert check_media_is_not_streamed_by_the_studio() == []
