"""Share links: a public, unguessable address for one finished video, until someone stops it.

Anyone with the link sees the player, the thumbnail and the prompt, without an account;
nothing else of the team. Stopping a share ends the link at once: its page and its files
answer 404 from then on. Sharing again makes a new token, so a stopped link stays dead.
Every share is kept, with who made it and who stopped it, for the team page.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.db import IntegrityError, models, transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from generations.models import Generation, ShareLink

TOKEN_MAX_LENGTH = 64
# In a bucket, a shared file is a presigned link, which nothing can withdraw: it is signed
# for this long only, so that a stopped share's files are unreachable soon after.
SHARED_FILE_LINK_SECONDS = 600
NOT_SHAREABLE = "Only a finished video can be shared; this generation has no video to show."


class SharingRefused(Exception):
    """The generation cannot be shared; the message says why, in words."""


def new_token() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


class ShareLinkQuerySet(models.QuerySet["ShareLink"]):
    def live(self) -> ShareLinkQuerySet:
        """Links that work: not stopped, to a generation that still has its video."""
        return self.filter(revoked_at__isnull=True, generation__status="success").exclude(generation__video="")

    def for_team(self, team) -> ShareLinkQuerySet:
        return self.filter(generation__team=team)

    def by_token(self, token: str) -> ShareLink | None:
        """The working link with this token; None for any other text (never an error)."""
        if not token or len(token) > TOKEN_MAX_LENGTH:
            return None
        return self.live().select_related("generation").filter(token=token).first()

    def start(self, generation: Generation, user) -> ShareLink:
        """The generation's working link, made now by `user` unless one works already."""
        if generation.status != generation.Status.SUCCESS or not generation.video:
            raise SharingRefused(NOT_SHAREABLE)
        if existing := self.live().filter(generation=generation).first():
            return existing
        try:
            with transaction.atomic():
                return self.create(generation=generation, created_by=user)
        except IntegrityError:  # a teammate shared it at the same moment: theirs is the link
            return self.live().get(generation=generation)

    def stop(self, generation: Generation, user) -> int:
        """End every working link of the generation at once; how many were ended."""
        return self.filter(generation=generation, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=user
        )


def share_control_context(request: HttpRequest, generation: Generation, **extra) -> dict:
    """What the detail page's share control shows: the working link, if any, as an absolute URL."""
    from generations.models import ShareLink

    link = ShareLink.objects.live().filter(generation=generation).first()
    url = request.build_absolute_uri(reverse("generations:shared", args=[link.token])) if link else ""
    return {"generation": generation, "share_link": link, "share_url": url, **extra}
