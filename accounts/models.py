"""Teams: everyone on a team sees and reuses what the team has made."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class TeamQuerySet(models.QuerySet["Team"]):
    def for_user(self, user) -> TeamQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).order_by("memberships__created_at", "pk")

    def create_personal(self, user) -> Team:
        """Every account starts with a team of its own, which it owns."""
        with transaction.atomic():
            team = self.create(name=f"{user.get_username()}'s team")
            Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
        return team


class Team(models.Model):
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(default=timezone.now)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    objects = TeamQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    def is_owner(self, user) -> bool:
        return self.memberships.filter(user=user, role=Membership.Role.OWNER).exists()

    def has_member(self, user) -> bool:
        return self.memberships.filter(user=user).exists()


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


def _invite_token() -> str:
    return secrets.token_urlsafe(24)


def _invite_expiry():
    return timezone.now() + timedelta(days=7)


class InviteQuerySet(models.QuerySet["Invite"]):
    def usable(self) -> InviteQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invite(models.Model):
    """A link a team owner shares; anyone logged in who opens it may join the team."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invites")
    token = models.CharField(max_length=64, unique=True, default=_invite_token)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(default=_invite_expiry)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    def __str__(self) -> str:
        return f"Invite to {self.team}"

    def accept(self, user) -> Membership:
        membership, _ = Membership.objects.get_or_create(team=self.team, user=user)
        return membership
