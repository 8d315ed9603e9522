"""Share links: a public, unguessable address for one finished video, until someone stops it.

Anyone with the link sees the player, the thumbnail and the prompt, without an account;
nothing else of the team. Stopping a share ends the link at once: its page and its files
answer 404 from then on. Sharing again makes a new token, so a stopped link stays dead.
Every share is kept, with who made it and who stopped it, for the team page.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from generations.models import Generation

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


class ShareLink(models.Model):
    """A public link to one finished video, and who made and stopped it when."""

    generation = models.ForeignKey("generations.Generation", on_delete=models.CASCADE, related_name="share_links")
    token = models.CharField(max_length=TOKEN_MAX_LENGTH, unique=True, default=new_token)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ShareLinkQuerySet.as_manager()

    class Meta:
        constraints = [
            # Two teammates pressing Share at once make one link, not two.
            models.UniqueConstraint(
                fields=["generation"], condition=Q(revoked_at__isnull=True), name="one_working_share_per_generation"
            )
        ]

    def __str__(self) -> str:
        return f"Share of generation {self.generation_id}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


def share_control_context(request: HttpRequest, generation: Generation, **extra) -> dict:
    """What the detail page's share control shows: the working link, if any, as an absolute URL."""
    link = ShareLink.objects.live().filter(generation=generation).first()
    url = request.build_absolute_uri(reverse("generations:shared", args=[link.token])) if link else ""
    return {"generation": generation, "share_link": link, "share_url": url, **extra}
