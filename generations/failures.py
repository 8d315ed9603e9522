"""What a failed or cancelled generation tells a person: the kind of failure in plain words,
and the next step that can help.

Classified from what is stored: the status, and the reason, which the studio writes in the
fixed words below (the writers and this reader share them) or the service in its own. The
original reason is kept and shown small beside the plain message.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generations.models import Generation

# A cancel from the studio: the reason starts with CANCELLED_IN_STUDIO, then says what the
# service made of it. While ASKING ends it, the card waits for the service's answer.
CANCELLED_IN_STUDIO = "Cancelled in the studio."
ASKING = "The studio is asking the video service to stop it."
NEVER_SENT = "It had not been sent to the video service."
STOPPED = "The video service stopped it."
ALREADY_OVER = "The video service had already ended it."
MAY_STILL_FINISH = "The video service did not take the cancel ({reason}), so the service may still finish it."

GAVE_UP = re.compile(r"Gave up after (\d+) attempts|The studio tried (\d+) times")
CONTENT_WORDS = re.compile(
    r"moderat|content|sensitive|policy|safety|unsafe|prohibit|inappropriate|nsfw|risk|violat|blocked|censor",
    re.IGNORECASE,
)
SERVICE_WORDS = re.compile(
    r"on worker|timed out|out of memory|internal|server error|unavailable|overload|busy|try again later",
    re.IGNORECASE,
)


class Kind(enum.StrEnum):
    CONTENT_REFUSED = "content_refused"
    SERVICE_TROUBLE = "service_trouble"
    DEADLINE = "deadline"
    CANCELLED_BY_SERVICE = "cancelled_by_service"
    CANCELLED_IN_STUDIO = "cancelled_in_studio"
    STORAGE = "storage"
    SETUP = "setup"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Failure:
    kind: Kind
    headline: str
    next_step: str
    reason: str  # the original text, shown small
    can_try_again: bool  # the same parameters may work next time
    note: str = ""  # for a cancel: what the service made of it

    @property
    def remix_first(self) -> bool:
        return self.kind == Kind.CONTENT_REFUSED


def explain(status: str, reason: str) -> Failure | None:
    """The plain message for a generation that ended in `status` for `reason`; None while it has not failed."""
    if status == "cancelled":
        return _cancelled(reason)
    if status != "failed":
        return None
    kind = classify(reason)
    tried = _attempts(reason)
    headline, next_step = {
        Kind.CONTENT_REFUSED: (
            "The video service refused this prompt.",
            "Reword the prompt: remix it, change what the service objected to, and generate again.",
        ),
        Kind.SERVICE_TROUBLE: (
            f"The video service had trouble; the studio tried {tried} times."
            if tried
            else "The video service had trouble making this video.",
            "Try again: the same request usually works a little later.",
        ),
        Kind.DEADLINE: (
            "The video took too long, so the studio stopped waiting.",
            "Try again; the service may be quicker now.",
        ),
        Kind.STORAGE: (
            "The video was made but could not be copied into the studio"
            + (f"; the studio tried {tried} times." if tried else "."),
            "Try again to make it anew.",
        ),
        Kind.SETUP: (
            "The studio cannot use the video service as it is set up.",
            "An administrator needs to check the studio's settings; trying again will not help until then.",
        ),
        Kind.UNKNOWN: (
            "The video service could not make this video.",
            "Try again, or remix it and change the prompt.",
        ),
    }[kind]
    return Failure(kind, headline, next_step, reason, can_try_again=kind not in (Kind.CONTENT_REFUSED, Kind.SETUP))


def of(generation: Generation) -> Failure | None:
    return explain(generation.status, generation.failure_reason)


def classify(reason: str) -> Kind:
    """The kind of a failed generation's reason: the studio's own words first, then the service's."""
    if "was not ready within" in reason:
        return Kind.DEADLINE
    if "could not be stored" in reason:
        return Kind.STORAGE
    if any(
        words in reason
        for words in (
            "API key",
            "does not offer the model",
            "break the video service's rules",
        )
    ):
        return Kind.SETUP
    if any(words in reason for words in ("could not be reached", "rate limit", "Gave up after", "no longer knows")):
        return Kind.SERVICE_TROUBLE
    if "gave no video" in reason:
        return Kind.SERVICE_TROUBLE
    if CONTENT_WORDS.search(reason) or reason.startswith("The video service rejected the request:"):
        return Kind.CONTENT_REFUSED
    if SERVICE_WORDS.search(reason):
        return Kind.SERVICE_TROUBLE
    return Kind.UNKNOWN


def is_awaiting_cancel(status: str, reason: str) -> bool:
    """A cancel from the studio whose answer from the service has not come yet."""
    return status == "cancelled" and reason.startswith(CANCELLED_IN_STUDIO) and reason.endswith(ASKING)


def _cancelled(reason: str) -> Failure:
    if not reason.startswith(CANCELLED_IN_STUDIO):
        return Failure(
            Kind.CANCELLED_BY_SERVICE,
            "The video service cancelled this video.",
            "Try again, or remix it.",
            reason,
            can_try_again=True,
        )
    note = reason[len(CANCELLED_IN_STUDIO) :].strip()
    return Failure(Kind.CANCELLED_IN_STUDIO, "Cancelled.", "Remix it to make it again.", reason, False, note)


def _attempts(reason: str) -> int | None:
    match = GAVE_UP.search(reason)
    return int(match.group(1) or match.group(2)) if match else None
