"""Rendered media: real H.264 MP4s and JPEG thumbnails, served with byte ranges.

The renders run on an emulator of this module's own (so the per-test reset of the
shared one cannot cancel them), all submitted at once so they render in parallel.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from PIL import Image

from gmi_emulator.testing import EmulatorClient, EmulatorProcess

EAGLE = "A majestic eagle soaring through a mountain landscape at sunset"
JELLYFISH = "Neon jellyfish spinning slowly in a deep blue ocean at night"
CASES = {
    "landscape-5s": {"prompt": EAGLE, "aspect_ratio": "16:9", "duration": "5"},
    "other-prompt-5s": {"prompt": JELLYFISH, "aspect_ratio": "16:9", "duration": "5"},
    "portrait-5s": {"prompt": EAGLE, "aspect_ratio": "9:16", "duration": "5"},
    "square-5s": {"prompt": JELLYFISH, "aspect_ratio": "1:1", "duration": "5"},
    "square-5s-again": {"prompt": JELLYFISH, "aspect_ratio": "1:1", "duration": "5"},
    "landscape-10s": {"prompt": "fast red cars racing through a rainy city", "aspect_ratio": "16:9", "duration": "10"},
}


@dataclass
class Rendered:
    request_id: str
    video_url: str
    thumbnail_url: str
    video: Path
    thumbnail: Path


@pytest.fixture(scope="module")
def render_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(api_key="render-key", queue_seconds=0, processing_seconds=0.5) as emu:
        yield emu


@pytest.fixture(scope="module")
def rendered(render_emulator: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendered]:
    client = EmulatorClient(render_emulator)
    folder = tmp_path_factory.mktemp("rendered")
    ids = {name: client.submit(**payload) for name, payload in CASES.items()}
    result = {}
    for name, request_id in ids.items():
        final = client.wait_until(request_id, timeout=120)
        assert final["status"] == "success", final
        urls = final["outcome"]["video_url"], final["outcome"]["thumbnail_image_url"]
        paths = folder / f"{name}.mp4", folder / f"{name}.jpg"
        for url, path in zip(urls, paths, strict=True):
            response = requests.get(url, timeout=30)  # no key: media links are public
            assert response.status_code == 200, url
            path.write_bytes(response.content)
        result[name] = Rendered(request_id, *urls, *paths)
    client.close()
    return result


def _frames(path: Path, *indices: int) -> dict[int, np.ndarray]:
    """The decoded RGB pictures of the frames at ``indices``."""
    wanted, found = set(indices), {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                found[index] = frame.to_ndarray(format="rgb24").astype(np.int16)
            if len(found) == len(wanted):
                break
    assert set(found) == wanted, f"{path.name} has too few frames"
    return found


@pytest.mark.parametrize(
    ("case", "width", "height", "seconds"),
    [
        ("landscape-5s", 1280, 720, 5),
        ("portrait-5s", 720, 1280, 5),
        ("square-5s", 720, 720, 5),
        ("landscape-10s", 1280, 720, 10),
    ],
)
def test_the_video_is_h264_at_the_documented_size_24_fps_and_duration(
    rendered: dict[str, Rendered], case: str, width: int, height: int, seconds: int
) -> None:
    with av.open(str(rendered[case].video)) as container:
        stream = container.streams.video[0]
        assert container.format.name.startswith("mov,mp4")
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (width, height)
        assert stream.average_rate == 24
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == seconds * 24
    assert float(stream.duration * stream.time_base) == pytest.approx(seconds, abs=0.05)


@pytest.mark.parametrize("case", ["landscape-5s", "portrait-5s", "square-5s"])
def test_the_thumbnail_is_a_jpeg_of_the_video_size(rendered: dict[str, Rendered], case: str) -> None:
    with av.open(str(rendered[case].video)) as container:
        size = container.streams.video[0].width, container.streams.video[0].height

    with Image.open(rendered[case].thumbnail) as image:
        assert image.format == "JPEG"
        assert image.size == size


def test_two_different_prompts_give_clearly_different_pictures(rendered: dict[str, Rendered]) -> None:
    eagle = _frames(rendered["landscape-5s"].video, 0, 36, 100)
    jellyfish = _frames(rendered["other-prompt-5s"].video, 0, 36, 100)

    for index in (0, 36, 100):
        difference = np.abs(eagle[index] - jellyfish[index]).mean()
        assert difference > 25, f"frame {index}: mean absolute difference {difference:.1f}"


def test_the_picture_moves(rendered: dict[str, Rendered]) -> None:
    frames = _frames(rendered["landscape-10s"].video, 10, 60)

    difference = np.abs(frames[10] - frames[60]).mean()
    assert difference > 2


def test_the_same_payload_renders_the_same_picture(rendered: dict[str, Rendered]) -> None:
    first = _frames(rendered["square-5s"].video, 50)
    again = _frames(rendered["square-5s-again"].video, 50)

    assert np.abs(first[50] - again[50]).mean() < 1.0


def test_media_is_served_with_type_length_and_accept_ranges(rendered: dict[str, Rendered]) -> None:
    item = rendered["landscape-5s"]

    video = requests.get(item.video_url, timeout=30)
    thumb = requests.get(item.thumbnail_url, timeout=30)

    assert video.headers["Content-Type"] == "video/mp4"
    assert int(video.headers["Content-Length"]) == item.video.stat().st_size == len(video.content)
    assert video.headers["Accept-Ranges"] == "bytes"
    assert thumb.headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).format == "JPEG"


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-99", 0, 99), ("bytes=1000-", 1000, None), ("bytes=-500", -500, None), ("bytes=10-99999999", 10, None)],
)
def test_a_byte_range_is_answered_206_with_content_range(
    rendered: dict[str, Rendered], header: str, first: int, last: int | None
) -> None:
    item = rendered["landscape-5s"]
    data = item.video.read_bytes()
    size = len(data)
    start = first if first >= 0 else size + first
    end = last if last is not None else size - 1

    response = requests.get(item.video_url, headers={"Range": header}, timeout=30)

    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert int(response.headers["Content-Length"]) == end - start + 1
    assert response.content == data[start : end + 1]


def test_an_unsatisfiable_range_is_416(rendered: dict[str, Rendered]) -> None:
    item = rendered["landscape-5s"]
    size = item.video.stat().st_size

    response = requests.get(item.video_url, headers={"Range": f"bytes={size}-"}, timeout=30)

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{size}"


def test_head_answers_the_headers_without_a_body(rendered: dict[str, Rendered]) -> None:
    item = rendered["landscape-5s"]

    response = requests.head(item.video_url, timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "video/mp4"
    assert int(response.headers["Content-Length"]) == item.video.stat().st_size
    assert response.content == b""


@pytest.mark.parametrize("name", ["00000000-0000-4000-8000-000000000000.mp4", "..%2F..%2Fetc%2Fpasswd", "x.part"])
def test_unknown_media_is_404(render_emulator: EmulatorProcess, name: str) -> None:
    assert requests.get(f"{render_emulator.root_url}/media/{name}", timeout=10).status_code == 404


def test_the_api_keeps_answering_promptly_while_a_10_second_clip_renders(render_emulator: EmulatorProcess) -> None:
    client = EmulatorClient(render_emulator)
    render_emulator.configure(processing_seconds=0)  # processing now means "still rendering"
    request_id = client.submit(prompt="a slow pan over a neon city at night", duration="10")
    timings = []
    while True:
        started = time.perf_counter()
        status = client.status(request_id)["status"]
        timings.append(time.perf_counter() - started)
        if status == "success":
            break
        assert len(timings) < 10_000

    assert len(timings) >= 20, "the render finished before the test could poll it"
    assert statistics.median(timings) < 0.05
    assert max(timings) < 1.0
    client.close()


def test_success_is_reported_only_once_the_files_are_complete(render_emulator: EmulatorProcess) -> None:
    client = EmulatorClient(render_emulator)
    render_emulator.configure(processing_seconds=0)
    request_id = client.submit(prompt="just in time", aspect_ratio="1:1")

    final = client.wait_until(request_id)

    assert final["status"] == "success"
    video = requests.get(final["outcome"]["video_url"], timeout=30)
    assert video.status_code == 200
    with av.open(io.BytesIO(video.content)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 120
    client.close()


def test_a_render_that_raises_ends_the_request_failed_with_the_reason(tmp_path: Path) -> None:
    media = tmp_path / "media"
    with EmulatorProcess(api_key="k", queue_seconds=0, processing_seconds=0, media_dir=media) as emu:
        client = EmulatorClient(emu)
        media.rmdir()  # the renderer can no longer write its files

        final = client.wait_until(client.submit(prompt="nowhere to go"))

        assert final["status"] == "failed"
        assert final["error"].startswith("Video generation failed on worker")
        assert "outcome" not in final
        client.close()
