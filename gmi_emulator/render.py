"""Render a prompt into a real H.264 MP4 and a JPEG thumbnail.

Runs in worker processes (see ``RenderPool``) so the HTTP server's GIL is never
held by rendering. Frames are built with numpy from pre-computed layers (sky,
ground, sprites, text drawn once with Pillow) and encoded with libx264.
"""

from __future__ import annotations

import contextlib
import math
import multiprocessing
import os
import queue
import textwrap
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gmi_emulator.jobs import RenderStopped
from gmi_emulator.scene import FPS, RGB, Scene, build_scene

Layer = tuple[np.ndarray, np.ndarray]  # premultiplied rgb float32 (h, w, 3), alpha float32 (h, w, 1)


def _layer_from_rgba(img: Image.Image) -> Layer:
    arr = np.asarray(img, dtype=np.float32)
    alpha = arr[:, :, 3:4] / 255.0
    return arr[:, :, :3] * alpha, alpha


def _disc(radius: int, colour: RGB, ring: bool) -> Layer:
    size = 2 * radius + 3
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dist = np.hypot(xx - size / 2, yy - size / 2)
    alpha = np.clip(radius - dist + 0.5, 0.0, 1.0)
    if ring:
        alpha *= np.clip(dist - radius * 0.62 + 0.5, 0.0, 1.0)
    alpha = (alpha * 0.92)[:, :, None]
    return np.asarray(colour, dtype=np.float32) * alpha, alpha


def _blend(frame: np.ndarray, layer: Layer, x: int, y: int, fade: float = 1.0) -> None:
    rgb, alpha = layer
    h, w = alpha.shape[:2]
    fh, fw = frame.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, fw), min(y + h, fh)
    if x0 >= x1 or y0 >= y1 or fade <= 0.0:
        return
    src = rgb[y0 - y : y1 - y, x0 - x : x1 - x]
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x]
    if fade < 1.0:
        src, a = src * fade, a * fade
    region = frame[y0:y1, x0:x1]
    region[:] = region * (1.0 - a) + src + 0.5


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def _text_layer(text: str, size: int, max_width: int, fill: RGB) -> Layer:
    font = _font(size)
    length = font.getlength(text)
    if length > max_width:
        font = _font(int(size * max_width / length))
    left, top, right, bottom = font.getbbox(text, stroke_width=3)
    img = Image.new("RGBA", (right - left + 8, bottom - top + 8), (0, 0, 0, 0))
    ImageDraw.Draw(img).text(
        (4 - left, 4 - top), text, font=font, fill=(*fill, 255), stroke_width=3, stroke_fill=(0, 0, 0, 210)
    )
    return _layer_from_rgba(img)


def _caption_layer(scene: Scene) -> Layer:
    width = scene.width
    size = max(14, min(scene.width, scene.height) // 28)
    font = _font(size)
    char_w = max(1.0, font.getlength("abcdefghijklmnopqrstuvwxyz") / 26)
    lines = textwrap.wrap(scene.prompt or "(empty prompt)", width=max(10, int((width - 48) / char_w)))
    if len(lines) > 3:
        lines = lines[:3]
        lines[2] = lines[2][: max(0, len(lines[2]) - 1)] + "…"
    line_h = int(size * 1.3)
    img = Image.new("RGBA", (width, line_h * len(lines) + 24), (0, 0, 0, 120))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((24, 12 + i * line_h), line, font=font, fill=(255, 255, 255, 235))
    return _layer_from_rgba(img)


def _vertical_gradient(height: int, width: int, top: RGB, bottom: RGB) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    col = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    return np.ascontiguousarray(np.broadcast_to(col[:, None, :], (height, width, 3)).astype(np.uint8))


class FrameMaker:
    """Builds frame ``i`` of a scene into a reusable uint8 RGB canvas."""

    def __init__(self, scene: Scene) -> None:
        self.s = scene
        w, h = scene.width, scene.height
        self.unit = min(w, h)
        self.canvas = np.empty((h, w, 3), dtype=np.uint8)
        self.sky = _vertical_gradient(h, w, scene.sky_top, scene.sky_bottom)
        dark = tuple(int(c * 0.35) for c in scene.ground)
        self.ground = _vertical_gradient(h, w, scene.ground, dark)  # type: ignore[arg-type]
        rng = np.random.default_rng(scene.seed % (2**32))
        xs = np.arange(3 * w, dtype=np.float32)
        profile = np.zeros_like(xs)
        for _ in range(4):  # whole cycles per frame width, so the scrolling ridge wraps seamlessly
            wave = np.sin(xs * (int(rng.integers(1, 8)) * 2 * math.pi / w) + rng.uniform(0, 2 * math.pi))
            profile += rng.uniform(0.2, 1.0) * (1 - np.abs(wave) * 2 if scene.ground_kind == "peaks" else wave)
        amplitude = 0.11 if scene.ground_kind == "peaks" else 0.06
        self.ridge = (profile / max(1e-6, float(np.abs(profile).max())) * amplitude * h).astype(np.float32)
        self.xs = np.arange(w, dtype=np.float32)
        self.rows = np.arange(h, dtype=np.float32)[:, None]
        self.sprites = [_disc(max(3, int(sh.radius * self.unit)), sh.colour, sh.ring) for sh in scene.shapes]
        self.sun = _disc(int(self.unit * 0.13), scene.sun, False) if scene.sun else None
        head_size = int(self.unit * 0.09)
        tint = tuple(min(255, 150 + c // 2) for c in scene.palette[-1])
        self.heads = [_text_layer(c, head_size, int(w * 0.9), tint) for c in scene.caption_chunks]  # type: ignore[arg-type]
        self.caption = _caption_layer(scene)
        self.bar = np.asarray(scene.palette[0], np.uint8)

    def _ground(self, t: float) -> None:
        s, h, w = self.s, self.s.height, self.s.width
        level = s.ground_level * h
        if s.ground_kind == "waves":
            ph = t * s.speed * 2.0
            profile = (
                level
                + 0.025 * h * np.sin(self.xs * (9.0 / w) - ph)
                + 0.012 * h * np.sin(self.xs * (23.0 / w) + ph * 1.7)
            )
        else:
            shift = int(t * s.speed * w * 0.06 * (1 if math.cos(s.direction) >= 0 else -1)) % w
            profile = level + self.ridge[w + shift : 2 * w + shift]
        top = min(h, max(0, int(profile.min())))
        bottom = min(h, max(top, int(profile.max()) + 1))
        mask = self.rows[top:bottom] >= profile[None, :]
        np.copyto(self.canvas[top:bottom], self.ground[top:bottom], where=mask[:, :, None])
        self.canvas[bottom:] = self.ground[bottom:]

    def _shape_pos(self, i: int, t: float) -> tuple[float, float]:
        s, sh = self.s, self.s.shapes[i]
        w, h = s.width, s.height
        v = s.speed * 0.12
        if s.motion == "orbit":
            ang = sh.phase + t * v * 6.0 * (1 if i % 2 else -1)
            rad = (0.15 + 0.25 * sh.x) * self.unit
            return w / 2 + rad * math.cos(ang), h * 0.45 + rad * math.sin(ang)
        if s.motion == "rise":
            return sh.x * w + 0.05 * w * math.sin(t * 2 + sh.phase), h * (
                (sh.y + 0.3 - v * t * (0.6 + sh.x)) % 1.2 - 0.1
            )
        if s.motion == "fall":
            return sh.x * w + 0.03 * w * math.sin(t * 1.5 + sh.phase), h * ((sh.y + v * t * (0.6 + sh.x)) % 1.2 - 0.1)
        if s.motion == "bounce":
            return (sh.x + v * t * 0.5) % 1.0 * w, h * (
                0.65 - 0.5 * abs(math.sin(t * s.speed * 2.5 + sh.phase)) * (0.4 + sh.y)
            )
        dx, dy = math.cos(s.direction + sh.phase * 0.2), math.sin(s.direction + sh.phase * 0.2) * 0.5
        return (sh.x + dx * v * t) % 1.2 * w - 0.1 * w, (sh.y + dy * v * t) % 1.0 * h

    def frame(self, i: int) -> np.ndarray:
        s, c = self.s, self.canvas
        t = i / FPS
        total = s.frames / FPS
        np.copyto(c, self.sky)
        if self.sun is not None:
            r = self.sun[1].shape[0] // 2
            _blend(c, self.sun, int(s.width * 0.68) - r, int(s.height * (0.25 + 0.25 * t / total)) - r)
        self._ground(t)
        for k, sprite in enumerate(self.sprites):
            x, y = self._shape_pos(k, t)
            r = sprite[1].shape[0] // 2
            _blend(c, sprite, int(x) - r, int(y) - r)
        n = len(self.heads)
        k = min(n - 1, int(t / total * n))
        span = total / n
        local = t - k * span
        head = self.heads[k]
        hh, hw = head[1].shape[:2]
        fade = min(1.0, local / 0.3, (span - local) / 0.3)
        hx = int((s.width - hw) / 2 + (0.5 - local / span) * s.width * 0.12)
        hy = int(s.height * 0.3 - hh / 2 + 0.03 * s.height * math.sin(t * 1.3))
        _blend(c, head, hx, hy, fade)
        cap = self.caption
        _blend(c, cap, 0, s.height - cap[1].shape[0])
        c[0:6, : int(s.width * (i + 1) / s.frames)] = self.bar
        return c


def _produce(maker: FrameMaker, out: queue.Queue[Any], stop: threading.Event, thumb_index: int, thumb_tmp: str) -> None:
    """Build frames on a helper thread so numpy work overlaps x264's encoding."""
    try:
        for i in range(maker.s.frames):
            if stop.is_set():
                return
            arr = maker.frame(i)
            if i == thumb_index:
                Image.fromarray(arr).save(thumb_tmp, format="JPEG", quality=85)
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.put(frame)
        out.put(None)
    except BaseException as exc:  # handed to the encoding thread, which re-raises
        out.put(exc)


STOP_CHECK_FRAMES = 6  # how often (in frames) a render looks for its stop file


def _stop_requested(stop_path: str | None) -> bool:
    return stop_path is not None and os.path.exists(stop_path)


def render_video(
    payload: dict[str, Any], video_path: str, thumb_path: str, stop_path: str | None = None
) -> dict[str, Any]:
    """Render ``payload`` to ``video_path`` (MP4) and ``thumb_path`` (JPEG), atomically.

    Raises RenderStopped, leaving no files, once a file exists at ``stop_path``.
    """
    started = time.perf_counter()
    if _stop_requested(stop_path):
        raise RenderStopped(video_path)
    scene = build_scene(payload)
    maker = FrameMaker(scene)
    video_tmp = f"{video_path}.{os.getpid()}.part"
    thumb_tmp = f"{thumb_path}.{os.getpid()}.part"
    thumb_index = min(scene.frames - 1, int(scene.frames / len(scene.caption_chunks) / 2))
    frames: queue.Queue[Any] = queue.Queue(maxsize=6)
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(maker, frames, stop, thumb_index, thumb_tmp), daemon=True)
    try:
        with av.open(video_tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "crf": "23"})
            stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
            stream.codec_context.time_base = Fraction(1, FPS)
            stream.codec_context.thread_type = "AUTO"
            producer.start()
            count = 0
            while (item := frames.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                container.mux(stream.encode(item))
                count += 1
                if count % STOP_CHECK_FRAMES == 0 and _stop_requested(stop_path):
                    raise RenderStopped(video_path)
            container.mux(stream.encode(None))
        os.replace(thumb_tmp, thumb_path)
        os.replace(video_tmp, video_path)
    finally:
        stop.set()
        while producer.is_alive():  # only after an encoder error: unblock the producer
            with contextlib.suppress(queue.Empty):
                frames.get(timeout=0.1)
        for leftover in (video_tmp, thumb_tmp):
            Path(leftover).unlink(missing_ok=True)
    return {
        "frames": scene.frames,
        "width": scene.width,
        "height": scene.height,
        "seconds": time.perf_counter() - started,
    }


def _worker_init() -> None:
    with contextlib.suppress(OSError):  # keep the HTTP server snappy when renders compete for the CPU
        os.nice(5)


def _warm_up() -> bool:
    _font(20).getlength("warm")
    return True


class RenderPool:
    """A small process pool for renders (forkserver where available, else spawn)."""

    def __init__(self, workers: int = 2) -> None:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        if ctx.get_start_method() == "forkserver":
            ctx.set_forkserver_preload(["gmi_emulator.render"])
        self.workers = max(1, workers)
        self.executor = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_worker_init)

    def warm_up(self) -> None:
        for future in [self.executor.submit(_warm_up) for _ in range(self.workers)]:
            future.result(timeout=60)

    def submit(
        self, payload: dict[str, Any], video_path: Path, thumb_path: Path, stop_path: Path | None = None
    ) -> Future[dict[str, Any]]:
        """Render in a worker; creating a file at ``stop_path`` stops the render (RenderStopped)."""
        stop = str(stop_path) if stop_path is not None else None
        return self.executor.submit(render_video, payload, str(video_path), str(thumb_path), stop)

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Cancel queued renders and end the worker processes; False if they would not stop."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + timeout
        while True:
            processes = list((getattr(self.executor, "_processes", None) or {}).values())
            for proc in processes:
                if proc.is_alive():
                    proc.terminate()
            for proc in processes:
                proc.join(timeout=1)
            manager = getattr(self.executor, "_executor_manager_thread", None)
            if manager is None or not manager.is_alive():
                return True
            if time.monotonic() > deadline:
                return False
            manager.join(0.1)
