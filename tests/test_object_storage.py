"""Videos and thumbnails in an S3 bucket: a real S3-compatible server (SeaweedFS), real HTTP.

Workers upload from temporary files of their own; members' browsers are redirected to links
presigned for at most an hour and read the bytes, Range included, from the bucket itself.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import av
import pytest
import requests
from django.conf import settings as django_settings
from django.core.files.base import ContentFile
from django.urls import reverse

from generations import poller
from generations.models import Generation
from generations.storing import downloads_dir, remove_abandoned_downloads
from generations.tasks import submit_generation
from kling_studio.localservices import BASE_DIR
from tests.conftest import wait_for
from tests.factories import make_generation
from tests.steps import make_due

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8


@pytest.fixture
def worker_tmp(tmp_path, monkeypatch):
    """This worker's own temporary directory (TMPDIR), empty, shared with no other process."""
    directory = tmp_path / "worker-tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def stored(user, **fields) -> Generation:
    """A finished generation whose files the studio saved through its storage."""
    generation = make_generation(user, status=Generation.Status.SUCCESS, **fields)
    generation.video.save("video.mp4", ContentFile(VIDEO), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff" + b"t" * 100), save=False)
    generation.save()
    return generation


def keys_in(server, prefix: str) -> set[str]:
    listing = server.client().list_objects_v2(Bucket=server.bucket, Prefix=prefix)
    return {entry["Key"] for entry in listing.get("Contents", [])}


# Storing.


@pytest.mark.django_db
def test_the_store_task_uploads_a_finished_generation_into_the_bucket_from_its_own_temporary_files(
    object_storage, studio_api, eager_tasks, ada, worker_tmp, media_root, django_capture_on_commit_callbacks
):
    on_disk_before = set(media_root.rglob("*"))  # the session's media root holds earlier tests' files
    generation = make_generation(ada, prompt="A lighthouse in a storm, seen from a boat", aspect_ratio="1:1")
    submit_generation(generation.pk)

    def tick_as_the_workers_do() -> bool:
        make_due(generation)
        with django_capture_on_commit_callbacks(execute=True):  # the tick queues store_generation (eager)
            poller.refresh_due()
        generation.refresh_from_db()
        return generation.is_final

    wait_for(tick_as_the_workers_do, timeout=60, message="the generation to be stored")
    assert generation.status == Generation.Status.SUCCESS, generation.failure_reason
    prefix = f"generations/{generation.pk}/"
    assert keys_in(object_storage, prefix) == {prefix + "video.mp4", prefix + "thumbnail.jpg"}
    assert (generation.video.name, generation.thumbnail.name) == (prefix + "video.mp4", prefix + "thumbnail.jpg")

    client = object_storage.client()
    video = client.get_object(Bucket=object_storage.bucket, Key=prefix + "video.mp4")
    assert video["ContentType"] == "video/mp4"
    with av.open(io.BytesIO(video["Body"].read())) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (720, 720)
    thumbnail = client.get_object(Bucket=object_storage.bucket, Key=prefix + "thumbnail.jpg")
    assert thumbnail["ContentType"] == "image/jpeg"
    assert thumbnail["Body"].read(3) == b"\xff\xd8\xff"

    # Nothing on a disk another process could be expected to share; the downloads are gone.
    assert set(media_root.rglob("*")) == on_disk_before
    assert downloads_dir() == worker_tmp / "kling-studio-downloads"
    assert list(downloads_dir().iterdir()) == []


@pytest.mark.django_db
def test_abandoned_downloads_are_removed_from_the_workers_own_temporary_directory(object_storage, worker_tmp):
    downloads = downloads_dir()
    assert downloads.parent == worker_tmp
    downloads.mkdir()
    abandoned, in_use = downloads / "tmpabandoned.mp4", downloads / "tmpinuse.mp4"
    abandoned.write_bytes(b"half a video")
    in_use.write_bytes(b"a video on its way")
    long_ago = time.time() - django_settings.GENERATION_STORE_LEASE - 60
    os.utime(abandoned, (long_ago, long_ago))
    assert remove_abandoned_downloads() == 1
    assert not abandoned.exists() and in_use.exists()


@pytest.mark.django_db
def test_a_store_that_lost_its_hold_deletes_only_its_own_copy(object_storage, ada):
    """Names are never reused: a second copy of a generation's video is saved beside the first."""
    generation = stored(ada)
    again = generation.video.storage.save(generation.video.name, ContentFile(b"another copy"))
    assert again != generation.video.name
    generation.video.storage.delete(again)
    assert generation.video.storage.exists(generation.video.name)


# Serving: a redirect to the bucket.


@pytest.mark.django_db(transaction=True)
def test_a_member_is_sent_to_the_bucket_and_reads_the_video_from_there_with_ranges(
    object_storage, studio_server, ada, outsider, client
):
    generation = stored(ada)
    url = f"{studio_server.url}{reverse('generations:video', args=[generation.pk])}"
    browser = logged_in(client, ada)

    answer = browser.get(url, allow_redirects=False)
    assert answer.status_code == 302
    link = answer.headers["Location"]
    key = f"{object_storage.endpoint_url}/{object_storage.bucket}/{generation.video.name}"
    assert link.startswith(key + "?")
    assert int(parse_qs(urlsplit(link).query)["X-Amz-Expires"][0]) <= 3600
    assert answer.content == b""  # no video bytes through the studio

    whole = requests.get(link, timeout=10)
    assert whole.status_code == 200
    assert whole.content == VIDEO
    assert whole.headers["Content-Type"] == "video/mp4"
    part = requests.get(link, headers={"Range": "bytes=10-19"}, timeout=10)
    assert part.status_code == 206
    assert part.content == VIDEO[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(VIDEO)}"

    # A browser just follows the redirect, Range and all.
    followed = browser.get(url, headers={"Range": "bytes=-5"}, timeout=10)
    assert followed.status_code == 206
    assert followed.content == VIDEO[-5:]

    # The link is the only way in: no signature, or a changed one, is refused.
    assert requests.get(key, timeout=10).status_code == 403
    assert requests.get(link.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=10).status_code == 403

    # An outsider gets 404 and no link; a stranger is asked to log in.
    stranger_answer = requests.get(url, allow_redirects=False, timeout=10)
    assert stranger_answer.status_code == 302
    assert stranger_answer.headers["Location"].startswith("/accounts/login/")
    outsider_answer = logged_in(client, outsider).get(url, allow_redirects=False, timeout=10)
    assert outsider_answer.status_code == 404
    assert "Location" not in outsider_answer.headers
    assert object_storage.endpoint_url not in outsider_answer.text


def logged_in(client, user) -> requests.Session:
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(django_settings.SESSION_COOKIE_NAME, client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    return session


@pytest.mark.django_db
def test_thumbnails_and_downloads_are_redirected_too(object_storage, ada, outsider, client):
    generation = stored(ada, prompt="A Red Fox, running through SNOW!")
    client.force_login(ada)
    thumbnail = client.get(reverse("generations:thumbnail", args=[generation.pk]))
    assert thumbnail.status_code == 302
    image = requests.get(thumbnail["Location"], timeout=10)
    assert (image.status_code, image.headers["Content-Type"]) == (200, "image/jpeg")
    assert image.content.startswith(b"\xff\xd8\xff")
    # The redirect may be kept for half the link's life, so the link is still good when used.
    assert thumbnail["Cache-Control"] == "private, max-age=1800"

    download = client.get(reverse("generations:download", args=[generation.pk]))
    assert download.status_code == 302
    file = requests.get(download["Location"], timeout=10)
    assert file.content == VIDEO
    assert file.headers["Content-Disposition"] == (
        f'attachment; filename="a-red-fox-running-through-snow-{generation.pk}.mp4"'
    )

    client.force_login(outsider)
    for name in ("video", "thumbnail", "download"):
        answer = client.get(reverse(f"generations:{name}", args=[generation.pk]))
        assert answer.status_code == 404
        assert not answer.has_header("Location")


@pytest.mark.django_db
def test_links_last_as_long_as_the_setting_says(object_storage, ada, client, settings):
    settings.AWS_QUERYSTRING_EXPIRE = 600
    settings.STORAGES = {**settings.STORAGES}  # a storage made anew, with the new setting
    generation = stored(ada)
    client.force_login(ada)
    answer = client.get(reverse("generations:video", args=[generation.pk]))
    assert parse_qs(urlsplit(answer["Location"]).query)["X-Amz-Expires"] == ["600"]
    assert answer["Cache-Control"] == "private, max-age=300"


@pytest.mark.django_db
def test_links_are_signed_for_the_endpoint_browsers_reach_when_it_differs(object_storage, ada, client, settings):
    """Inside a compose network the processes reach the bucket as http://s3:8333, browsers as
    another host: the link must name (and be signed for) the browsers' one."""
    public = object_storage.endpoint_url.replace("127.0.0.1", "localhost")
    settings.S3_PUBLIC_ENDPOINT_URL = public
    settings.STORAGES = {**settings.STORAGES}  # a storage made anew, with the new setting
    generation = stored(ada)
    client.force_login(ada)
    link = client.get(reverse("generations:video", args=[generation.pk]))["Location"]
    assert link.startswith(f"{public}/")
    assert requests.get(link, timeout=10).content == VIDEO
    assert requests.get(link.replace("localhost", "127.0.0.1", 1), timeout=10).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_the_zip_streams_from_the_bucket_through_the_asgi_server(object_storage, studio_server, ada, client):
    finished_at = datetime(2026, 5, 17, 8, 30, 44, tzinfo=UTC)
    picks = [stored(ada, prompt=f"clip number {n}", finished_at=finished_at + timedelta(hours=n)) for n in range(2)]
    browser = logged_in(client, ada)
    gallery = browser.get(f"{studio_server.url}{reverse('generations:gallery')}", timeout=10).text
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', gallery).group(1)
    form = {"csrfmiddlewaretoken": token, "action": "download", "ids": [g.pk for g in picks]}
    bulk = f"{studio_server.url}{reverse('generations:bulk')}"
    with browser.post(bulk, data=form, stream=True, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "application/zip"
        assert answer.headers["Transfer-Encoding"] == "chunked"  # sent as it is built, its length unknown
        body = b"".join(answer.iter_content(64 * 1024))
    archive = zipfile.ZipFile(io.BytesIO(body))
    for n, generation in enumerate(picks):
        info = archive.getinfo(generation.download_filename)
        assert archive.read(info) == VIDEO
        assert info.date_time == (2026, 5, 17, 8 + n, 30, 44)


# Settings.


def settings_of(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import kling_studio.settings as s; "
        "print(s.STORAGES['default']['BACKEND']); print(s.CONTENT_SECURITY_POLICY['DIRECTIVES']['media-src'])"
    )
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "MEDIA_"))}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def test_a_bucket_name_puts_the_files_in_the_bucket_and_lets_pages_load_them_from_its_endpoint():
    result = settings_of(AWS_STORAGE_BUCKET_NAME="studio-media", AWS_S3_ENDPOINT_URL="https://s3.example.net:9000")
    assert result.stdout.splitlines() == [
        "generations.objectstorage.MediaStorage",
        "[\"'self'\", 'https://s3.example.net:9000']",
    ], result.stderr
    on_aws = settings_of(AWS_STORAGE_BUCKET_NAME="studio-media", AWS_S3_REGION_NAME="eu-west-1")
    assert "https://s3.eu-west-1.amazonaws.com" in on_aws.stdout, on_aws.stderr
    on_disk = settings_of()
    assert on_disk.stdout.splitlines() == ["django.core.files.storage.FileSystemStorage", "[\"'self'\"]"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_QUERYSTRING_EXPIRE": "7200"}, "AWS_QUERYSTRING_EXPIRE must be at most 3600 (an hour), not 7200"),
        ({"AWS_QUERYSTRING_EXPIRE": "0"}, "AWS_QUERYSTRING_EXPIRE must be at least 1, not 0"),
        ({"AWS_S3_ENDPOINT_URL": "127.0.0.1:8333"}, "AWS_S3_ENDPOINT_URL must be a http/https URL"),
        ({"MEDIA_ACCEL_REDIRECT_PREFIX": "protected"}, "MEDIA_ACCEL_REDIRECT_PREFIX must start and end with '/'"),
        (
            {"AWS_STORAGE_BUCKET_NAME": "b", "MEDIA_ACCEL_REDIRECT_PREFIX": "/protected-media/"},
            "MEDIA_ACCEL_REDIRECT_PREFIX is for files on the local disk",
        ),
    ],
)
def test_a_bad_storage_setting_stops_the_process_naming_it(env, message):
    result = settings_of(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


# In a browser.


@pytest.mark.browser
@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_thumbnails_previews_and_the_player_load_from_the_bucket(
    object_storage, studio_api, eager_tasks, studio_server, page, ada
):
    generation = make_generation(ada, prompt="A kite festival on a windy beach", aspect_ratio="1:1")
    submit_generation(generation.pk)

    def tick_as_the_workers_do() -> bool:  # committed at once here, so the store task runs (eagerly) in the tick
        make_due(generation)
        poller.refresh_due()
        generation.refresh_from_db()
        return generation.is_final

    wait_for(tick_as_the_workers_do, timeout=60, message="the generation to be stored")
    from_the_bucket = []
    page.on("response", lambda r: r.url.startswith(object_storage.endpoint_url) and from_the_bucket.append(r.status))

    page.goto(f"{studio_server.url}/accounts/login/")
    page.get_by_label("Username").fill("ada")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{studio_server.url}/gallery/")
    card = page.locator(f"#gallery-card-{generation.pk}")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=card.locator("img").element_handle())
    card.locator(".gallery-thumb").hover()
    page.wait_for_function("v => !v.paused && v.readyState >= 2", arg=card.locator("video.preview").element_handle())

    page.goto(f"{studio_server.url}{reverse('generations:detail', args=[generation.pk])}")
    video = page.locator("article.detail video")
    page.wait_for_function("v => v.videoWidth === 720 && v.videoHeight === 720", arg=video.element_handle())
    video.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function("v => !v.paused && v.currentTime > 0.2", arg=video.element_handle())
    assert from_the_bucket and set(from_the_bucket) <= {200, 206, 304}, from_the_bucket
