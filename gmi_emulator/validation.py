"""Validation of submissions and the model catalogue, written from the API document.

Source of truth: shared/api/kling-text2video-v1.6-standard.txt ("Request Parameters").
"""

from __future__ import annotations

import math
from typing import Any

MODEL_ID = "Kling-Text2Video-V1.6-Standard"
MAX_PROMPT_LENGTH = 2500
DURATIONS = ("5", "10")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "negative_prompt": "",
    "duration": "5",
    "aspect_ratio": "16:9",
    "cfg_scale": 0.5,
}

OTHER_MODELS: dict[str, dict[str, Any]] = {
    "Kling-Image2Video-V1.6-Standard": {
        "name": "Kling Image2Video V1.6 Standard",
        "description": "Animates a still image into a short video clip.",
    },
    "Kling-Text2Video-V2.1-Master": {
        "name": "Kling Text2Video V2.1 Master",
        "description": "Higher fidelity text-to-video generation.",
    },
}

MODEL_INFO: dict[str, Any] = {
    "model_id": MODEL_ID,
    "name": "Kling Text2Video V1.6 Standard",
    "description": (
        "Transforms text prompts into short, high-quality video clips with smooth motion "
        "and strong prompt alignment. Optimized for speed and accessibility."
    ),
    "type": "text-to-video",
    "max_prompt_length": MAX_PROMPT_LENGTH,
    "durations": list(DURATIONS),
    "aspect_ratios": list(ASPECT_RATIOS),
    "max_resolution": "720p",
    "output_format": "mp4",
    "parameters": {
        "prompt": {"type": "string", "required": False, "default": "", "max_length": MAX_PROMPT_LENGTH},
        "negative_prompt": {"type": "string", "required": False, "default": "", "max_length": MAX_PROMPT_LENGTH},
        "duration": {"type": "string", "required": False, "default": "5", "options": list(DURATIONS)},
        "aspect_ratio": {"type": "string", "required": False, "default": "16:9", "options": list(ASPECT_RATIOS)},
        "cfg_scale": {"type": "float", "required": False, "default": 0.5, "minimum": 0.0, "maximum": 1.0},
    },
}


def model_ids() -> list[str]:
    return [MODEL_ID, *OTHER_MODELS]


def model_info(model_id: str) -> dict[str, Any] | None:
    if model_id == MODEL_ID:
        return MODEL_INFO
    other = OTHER_MODELS.get(model_id)
    return {"model_id": model_id, **other} if other else None


class ValidationError(ValueError):
    """An invalid submission: HTTP 400, ``{"error": message, "field": field}``."""

    status = 400

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"error": self.message, "field": self.field}


class UnknownModel(ValidationError):
    """A submission for a model the catalogue does not know: HTTP 404, ``{"error": message}``."""

    status = 404

    def __init__(self, model: str) -> None:
        super().__init__("model", f"model not found: {model}")

    def as_json(self) -> dict[str, str]:
        return {"error": self.message}


def validate_submission(body: Any) -> tuple[str, dict[str, Any]]:
    """Return ``(model, payload with defaults filled in)`` or raise ValidationError.

    A model that is not in the catalogue raises UnknownModel (404), as on the live service.
    Unknown payload keys are ignored (and not echoed back).
    """
    if not isinstance(body, dict):
        raise ValidationError("body", "request body must be a JSON object")
    if "model" not in body:
        raise ValidationError("model", f'model is required and must be "{MODEL_ID}"')
    model = body["model"]
    if not isinstance(model, str) or not model:
        raise ValidationError("model", f'model must be a non-empty string such as "{MODEL_ID}", got {model!r}')
    if model not in model_ids():
        raise UnknownModel(model)
    if model != MODEL_ID:  # listed, but this emulator only emulates the one model
        raise ValidationError("model", f'model {model!r} is not emulated: model must be "{MODEL_ID}"')
    raw = body.get("payload", {})
    if not isinstance(raw, dict):
        raise ValidationError("payload", "payload must be a JSON object")
    payload = dict(DEFAULTS)
    for key in ("prompt", "negative_prompt"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, str):
                raise ValidationError(f"payload.{key}", f"payload.{key} must be a string")
            if len(value) > MAX_PROMPT_LENGTH:
                raise ValidationError(
                    f"payload.{key}",
                    f"payload.{key} must be at most {MAX_PROMPT_LENGTH} characters (got {len(value)})",
                )
            payload[key] = value
    if "duration" in raw:
        if raw["duration"] not in DURATIONS or not isinstance(raw["duration"], str):
            raise ValidationError(
                "payload.duration", f'payload.duration must be one of "5", "10" (a string), got {raw["duration"]!r}'
            )
        payload["duration"] = raw["duration"]
    if "aspect_ratio" in raw:
        if raw["aspect_ratio"] not in ASPECT_RATIOS or not isinstance(raw["aspect_ratio"], str):
            raise ValidationError(
                "payload.aspect_ratio",
                f'payload.aspect_ratio must be one of "16:9", "9:16", "1:1", got {raw["aspect_ratio"]!r}',
            )
        payload["aspect_ratio"] = raw["aspect_ratio"]
    if "cfg_scale" in raw:
        value = raw["cfg_scale"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValidationError("payload.cfg_scale", f"payload.cfg_scale must be a number, got {value!r}")
        if not 0.0 <= value <= 1.0:
            raise ValidationError("payload.cfg_scale", f"payload.cfg_scale must be between 0.0 and 1.0, got {value!r}")
        payload["cfg_scale"] = float(value)
    return model, payload
