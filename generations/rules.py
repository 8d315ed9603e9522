"""What the video API accepts: one definition for the form, the model and the client.

The constraints are those of the documented contract of Kling-Text2Video-V1.6-Standard.
The emulator checks requests with its own code, written from the same document, so a
mistake here is caught by it rather than copied into it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

MODEL_ID = "Kling-Text2Video-V1.6-Standard"
PROMPT_MAX_LENGTH = 2500
DURATIONS = ("5", "10")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
CFG_SCALE_MIN = 0.0
CFG_SCALE_MAX = 1.0
CFG_SCALE_DEFAULT = 0.5

# Pixel size the service renders for each aspect ratio (its "720p class").
FRAME_SIZES = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (720, 720)}


class InvalidParameters(ValueError):
    """The parameters break the contract; `errors` maps each field to a message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))


@dataclass(frozen=True)
class VideoParameters:
    prompt: str = ""
    negative_prompt: str = ""
    duration: str = "5"
    aspect_ratio: str = "16:9"
    cfg_scale: float = CFG_SCALE_DEFAULT

    def errors(self) -> dict[str, str]:
        return parameter_errors(asdict(self))

    def validated(self) -> VideoParameters:
        if errors := self.errors():
            raise InvalidParameters(errors)
        return self

    def as_payload(self) -> dict[str, Any]:
        """The request body's `payload`, after checking it against the contract."""
        return asdict(self.validated())


def payload_values(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload's parameters as sent, with the documented default for any it leaves out."""
    return {key: payload.get(key, default) for key, default in asdict(VideoParameters()).items()}


def parameter_errors(values: dict[str, Any]) -> dict[str, str]:
    """Every way `values` breaks the contract, as readable messages keyed by field."""
    errors: dict[str, str] = {}
    for field, label in (("prompt", "The prompt"), ("negative_prompt", "The negative prompt")):
        text = values.get(field, "")
        if not isinstance(text, str):
            errors[field] = f"{label} must be text."
        elif len(text) > PROMPT_MAX_LENGTH:
            errors[field] = f"{label} is {len(text):,} characters long; the limit is {PROMPT_MAX_LENGTH:,}."
    if values.get("duration") not in DURATIONS:
        errors["duration"] = "Choose a duration of 5 or 10 seconds."
    if values.get("aspect_ratio") not in ASPECT_RATIOS:
        errors["aspect_ratio"] = "Choose an aspect ratio of 16:9, 9:16 or 1:1."
    cfg_scale = values.get("cfg_scale")
    if (
        isinstance(cfg_scale, bool)
        or not isinstance(cfg_scale, int | float)
        or math.isnan(cfg_scale)
        or not CFG_SCALE_MIN <= cfg_scale <= CFG_SCALE_MAX
    ):
        errors["cfg_scale"] = f"The CFG scale must be a number from {CFG_SCALE_MIN} to {CFG_SCALE_MAX}."
    return errors
