"""A faithful local emulator of GMI Cloud's request-queue video API.

Run it with ``python -m gmi_emulator --help``; tests use ``gmi_emulator.testing.EmulatorProcess``.
The API contract it follows is shared/api/kling-text2video-v1.6-standard.txt.
"""

from gmi_emulator.validation import MODEL_ID

API_PREFIX = "/api/v1/apikey"

__all__ = ["API_PREFIX", "MODEL_ID"]
