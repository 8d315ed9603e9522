"""Turn a generation payload into a deterministic scene description.

Everything visible in a rendered clip is derived from the payload here: the
palette comes from the prompt's words (recognised colour words first, then a
colour hashed from every other word), the motion from its verbs and adverbs
("soaring", "spinning", "slow", "fast", ...) and from a hash of the prompt,
and the captions from the prompt itself. No randomness beyond the payload's
hash, so the same payload always gives the same picture.
"""

from __future__ import annotations

import colorsys
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

RGB = tuple[int, int, int]

SIZES: dict[str, tuple[int, int]] = {
    "16:9": (1280, 720),
    "9:16": (720, 1280),
    "1:1": (720, 720),
}
FPS = 24


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

STOP_WORDS = _words("a an the of in on at to and or with through by for from into over under")
STOP_WORDS |= _words("is are was be as its it this that very while")

COLOUR_WORDS: dict[str, tuple[RGB, ...]] = {
    "red": ((214, 40, 40),),
    "crimson": ((170, 20, 50),),
    "scarlet": ((235, 45, 30),),
    "orange": ((245, 130, 30),),
    "amber": ((255, 170, 40),),
    "yellow": ((250, 220, 60),),
    "gold": ((230, 180, 50),),
    "golden": ((240, 190, 70),),
    "green": ((50, 170, 70),),
    "emerald": ((20, 150, 100),),
    "forest": ((30, 100, 50), (80, 140, 60)),
    "teal": ((20, 140, 140),),
    "cyan": ((40, 210, 230),),
    "turquoise": ((60, 210, 200),),
    "blue": ((40, 90, 220),),
    "azure": ((60, 150, 240),),
    "navy": ((20, 30, 100),),
    "ocean": ((20, 80, 150), (40, 150, 190)),
    "sea": ((30, 100, 160), (60, 170, 200)),
    "sky": ((110, 170, 240),),
    "purple": ((130, 50, 180),),
    "violet": ((150, 80, 220),),
    "lavender": ((190, 160, 230),),
    "magenta": ((220, 40, 180),),
    "pink": ((245, 130, 180),),
    "rose": ((230, 90, 130),),
    "white": ((245, 245, 245),),
    "snow": ((235, 240, 250), (190, 210, 235)),
    "silver": ((190, 195, 205),),
    "grey": ((128, 128, 128),),
    "gray": ((128, 128, 128),),
    "black": ((15, 15, 20),),
    "night": ((10, 15, 45), (40, 40, 90)),
    "midnight": ((8, 10, 40),),
    "dark": ((25, 25, 35),),
    "brown": ((120, 75, 40),),
    "sand": ((215, 190, 140),),
    "desert": ((220, 170, 100), (190, 120, 70)),
    "sunset": ((255, 140, 60), (220, 70, 110), (90, 40, 120)),
    "sunrise": ((255, 180, 90), (240, 110, 120)),
    "dawn": ((250, 190, 150), (150, 140, 200)),
    "dusk": ((200, 90, 100), (60, 40, 100)),
    "fire": ((250, 90, 20), (255, 200, 40)),
    "flame": ((255, 110, 30),),
    "lava": ((220, 50, 10), (40, 20, 20)),
    "neon": ((255, 40, 200), (40, 255, 240)),
    "autumn": ((200, 100, 30), (170, 50, 30)),
    "ice": ((190, 230, 250),),
}

SLOW_WORDS = _words("slow slowly calm gentle gently peaceful drifting serene lazy")
FAST_WORDS = _words("fast quick quickly rapid racing speeding rushing explosive chase")
ORBIT_WORDS = _words("spinning spin spins swirling swirl orbit orbiting rotating whirl tornado")
RISE_WORDS = _words("soaring soar soars flying fly flies rising rise ascending birds balloon")
FALL_WORDS = _words("falling fall rain raining snow snowing descending waterfall leaves")
BOUNCE_WORDS = _words("bouncing bounce jumping jump dancing dance")
MANY_WORDS = _words("crowd swarm many flock stars fireflies rain snow particles confetti")
WAVE_WORDS = _words("ocean sea water lake beach waves wave river surf")
RIDGE_WORDS = _words("mountain mountains hills landscape city skyline valley canyon")
SUN_WORDS = _words("sun sunset sunrise moon dawn dusk")


@dataclass(frozen=True)
class Shape:
    colour: RGB
    radius: float  # fraction of min(width, height)
    ring: bool
    x: float  # starting position, fraction of width/height
    y: float
    phase: float


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    frames: int
    words: tuple[str, ...]
    prompt: str
    palette: tuple[RGB, ...]
    sky_top: RGB
    sky_bottom: RGB
    ground: RGB
    ground_kind: str  # "hills", "peaks" or "waves"
    ground_level: float  # fraction of height where the ground starts
    motion: str  # "drift", "orbit", "rise", "fall", "bounce"
    speed: float  # multiplier, about 0.3 .. 3
    direction: float  # radians, for drift
    shapes: tuple[Shape, ...]
    sun: RGB | None
    saturation: float
    seed: int
    caption_chunks: tuple[str, ...] = field(default=())


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def word_colour(word: str) -> RGB:
    """A stable, fairly saturated colour for any word."""
    d = _digest(word)
    hue = int.from_bytes(d[:2], "big") / 65535.0
    sat = 0.55 + d[2] / 255.0 * 0.4
    val = 0.6 + d[3] / 255.0 * 0.35
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (round(r * 255), round(g * 255), round(b * 255))


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _saturate(c: RGB, amount: float) -> RGB:
    grey = sum(c) / 3.0
    return tuple(max(0, min(255, round(grey + (v - grey) * amount))) for v in c)  # type: ignore[return-value]


def _chunks(words: list[str], max_chunks: int) -> tuple[str, ...]:
    if not words:
        return ("(empty prompt)",)
    groups = [" ".join(words[i : i + 3]) for i in range(0, len(words), 3)]
    return tuple(groups[:max_chunks])


def build_scene(payload: dict[str, Any]) -> Scene:
    prompt = str(payload.get("prompt", ""))
    duration = int(payload.get("duration", "5"))
    width, height = SIZES[str(payload.get("aspect_ratio", "16:9"))]
    cfg = float(payload.get("cfg_scale", 0.5))
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    seed = int.from_bytes(_digest(canonical)[:8], "big")
    prompt_hash = _digest(prompt.lower())

    raw_words = WORD_RE.findall(prompt.lower())
    words = [w for w in raw_words if w not in STOP_WORDS]
    word_set = set(words)

    colours: list[RGB] = []
    for w in words:
        colours.extend(COLOUR_WORDS.get(w, ()))
    for w in words:
        if w not in COLOUR_WORDS and len(colours) < 8:
            colours.append(word_colour(w))
    h = 0
    while len(colours) < 5:
        colours.append(word_colour(f"{prompt}#{h}"))
        h += 1
    saturation = 0.75 + 0.5 * cfg  # stronger "prompt adherence": bolder colours
    palette = tuple(_saturate(c, saturation) for c in colours)

    speed = 0.6 + prompt_hash[0] / 255.0 * 0.8
    if word_set & SLOW_WORDS:
        speed *= 0.4
    if word_set & FAST_WORDS:
        speed *= 2.2
    if word_set & ORBIT_WORDS:
        motion = "orbit"
    elif word_set & RISE_WORDS:
        motion = "rise"
    elif word_set & FALL_WORDS:
        motion = "fall"
    elif word_set & BOUNCE_WORDS:
        motion = "bounce"
    else:
        motion = "drift"
    direction = prompt_hash[1] / 255.0 * 2 * math.pi

    many = bool(word_set & MANY_WORDS)
    count = 12 + prompt_hash[2] % 8 if many else 3 + prompt_hash[2] % 6
    shapes = []
    for i in range(count):
        d = _digest(f"{prompt}|shape{i}")
        size = (0.015 + d[0] / 255.0 * 0.03) if many else (0.05 + d[0] / 255.0 * 0.11)
        shapes.append(
            Shape(
                colour=palette[(i + 1) % len(palette)],
                radius=size,
                ring=d[1] % 3 == 0,
                x=d[2] / 255.0,
                y=d[3] / 255.0 * 0.7,
                phase=d[4] / 255.0 * 2 * math.pi,
            )
        )

    sky_top = _mix(palette[0], (10, 10, 30), 0.35)
    sky_bottom = _mix(palette[min(1, len(palette) - 1)], (255, 255, 255), 0.15)
    ground = _mix(palette[2 % len(palette)], (0, 0, 0), 0.55)
    ground_kind = "waves" if word_set & WAVE_WORDS else "peaks" if word_set & RIDGE_WORDS else "hills"
    ground_level = 0.62 + prompt_hash[3] / 255.0 * 0.14
    sun = _mix(palette[0], (255, 240, 200), 0.5) if word_set & SUN_WORDS else None

    return Scene(
        width=width,
        height=height,
        frames=duration * FPS,
        words=tuple(raw_words),
        prompt=prompt,
        palette=palette,
        sky_top=sky_top,
        sky_bottom=sky_bottom,
        ground=ground,
        ground_kind=ground_kind,
        ground_level=ground_level,
        motion=motion,
        speed=speed,
        direction=direction,
        shapes=tuple(shapes),
        sun=sun,
        saturation=saturation,
        seed=seed,
        caption_chunks=_chunks(prompt.split(), duration),
    )
