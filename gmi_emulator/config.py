"""Settings of an emulator process and its run-time (fault and timing) config."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ENDPOINTS = ("submit", "get_request", "list_requests", "get_model", "list_models", "cancel_request")
OUTCOME_STYLES = ("documented", "live")
# The key of an API error body: {"error": ...} (the default), {"message": ...}, {"detail": ...},
# or "mixed": one of the three at random for each response, as the live service does.
ERROR_STYLES = ("error", "message", "detail", "mixed")
ERROR_KEYS = ("error", "message", "detail")
# The body of a 500 that wraps a backend 400: "flat" {"error": "backend returned 400: <message>"},
# "nested" {"error": {"code": 400, "message": "<message>"}}, or "mixed": one of the two at random.
WRAPPED_ERROR_SHAPES = ("flat", "nested", "mixed")


class ConfigError(ValueError):
    """An invalid config value; the message is meant for the person who sent it."""


@dataclass
class FaultConfig:
    """What the control endpoint can change at run time."""

    queue_seconds: float = 1.0
    processing_seconds: float = 6.0
    fail_rate: float = 0.0
    stuck_rate: float = 0.0
    cancel_rate: float = 0.0
    error_rate: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ENDPOINTS, 0.0))
    rate_limit: int = 0  # at most this many API requests per rate_window; 0 = unlimited
    rate_window: float = 60.0
    latency: float = 0.0
    list_limit: int = 0  # the list endpoint shows at most this many requests, newest first; 0 = all
    outcome_style: str = "documented"
    error_style: str = "error"  # the key of every API error body; see ERROR_STYLES
    wrap_bad_request_in_500: bool = False  # answer an invalid submit's 400 as a 500 that carries it
    wrapped_error_shape: str = "mixed"  # the body of that 500; see WRAPPED_ERROR_SHAPES

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def copy(self) -> FaultConfig:
        return copy.deepcopy(self)

    def updated(self, changes: dict[str, Any]) -> FaultConfig:
        """A validated copy with ``changes`` applied; raises ConfigError."""
        if not isinstance(changes, dict):
            raise ConfigError("config changes must be a JSON object")
        unknown = sorted(set(changes) - set(self.as_dict()))
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        new = self.copy()
        for key, value in changes.items():
            if key in ("queue_seconds", "processing_seconds", "rate_window", "latency"):
                setattr(new, key, _number(key, value, low=0.0))
            elif key in ("fail_rate", "stuck_rate", "cancel_rate"):
                setattr(new, key, _number(key, value, low=0.0, high=1.0))
            elif key == "error_rate":
                new.error_rate = _error_rates(value)
            elif key in ("rate_limit", "list_limit"):
                if value is None:
                    value = 0
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(f"{key} must be a whole number >= 0 (0 = unlimited)")
                setattr(new, key, value)
            elif key in _CHOICES:
                if not isinstance(value, str) or value not in _CHOICES[key]:
                    raise ConfigError(f"{key} must be one of {', '.join(_CHOICES[key])}, got {value!r}")
                setattr(new, key, value)
            elif key == "wrap_bad_request_in_500":
                if not isinstance(value, bool):
                    raise ConfigError(f"wrap_bad_request_in_500 must be true or false, got {value!r}")
                new.wrap_bad_request_in_500 = value
        if new.rate_window <= 0:
            raise ConfigError("rate_window must be > 0")
        if new.fail_rate + new.stuck_rate + new.cancel_rate > 1.0 + 1e-9:
            raise ConfigError("fail_rate + stuck_rate + cancel_rate must not exceed 1")
        return new


_CHOICES: dict[str, tuple[str, ...]] = {
    "outcome_style": OUTCOME_STYLES,
    "error_style": ERROR_STYLES,
    "wrapped_error_shape": WRAPPED_ERROR_SHAPES,
}


def _number(name: str, value: Any, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number")
    if not low <= value <= high:
        bounds = f"between {low:g} and {high:g}" if high != math.inf else f">= {low:g}"
        raise ConfigError(f"{name} must be {bounds}")
    return float(value)


def _error_rates(value: Any) -> dict[str, float]:
    """A number applies to every endpoint; an object sets the named ones (others 0)."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(ENDPOINTS))
        if unknown:
            raise ConfigError(f"unknown error_rate endpoint(s): {', '.join(unknown)}; use {', '.join(ENDPOINTS)}")
        rates = dict.fromkeys(ENDPOINTS, 0.0)
        for name, rate in value.items():
            rates[name] = _number(f"error_rate.{name}", rate, 0.0, 1.0)
        return rates
    rate = _number("error_rate", value, 0.0, 1.0)
    return dict.fromkeys(ENDPOINTS, rate)


@dataclass
class Settings:
    """Everything an emulator process is started with."""

    host: str = "127.0.0.1"
    port: int = 8765
    api_key: str = "emulator-key"
    media_dir: Path | None = None  # None: a fresh temporary directory, removed at exit
    seed: int | None = None
    render_workers: int = 2
    quiet: bool = False
    tls_cert: Path | None = None  # with tls_key: serve HTTPS (and https:// media links)
    tls_key: Path | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
