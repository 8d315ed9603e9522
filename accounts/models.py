"""Teams: everyone on a team sees and reuses what the team has made."""

from __future__ import annotations

import secrets
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models, transaction
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone


class TeamRuleError(Exception):
    """A change of members that would break a team rule; the message says which, in words."""


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
    # The most the team may spend on generations in a calendar month (UTC); none: no limit.
    # Set by an owner on the usage page; the rule is in generations/billing.py.
    monthly_budget = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    objects = TeamQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    def is_owner(self, user) -> bool:
        return self.memberships.filter(user=user, role=Membership.Role.OWNER).exists()

    def has_member(self, user) -> bool:
        return self.memberships.filter(user=user).exists()

    def create_invite(self, created_by) -> Invite:
        return self.invites.create(created_by=created_by)

    def removal_blocker(self, membership: Membership) -> str | None:
        """Why `membership` may not end, in words; None when it may."""
        other_owners = self.memberships.filter(role=Membership.Role.OWNER).exclude(pk=membership.pk)
        if membership.is_owner and not other_owners.exists():
            return f"{membership.user.get_username()} is the only owner of {self.name}; a team needs an owner."
        return None

    def leaving_blocker(self, user) -> str | None:
        """Why `user` may not leave this team, in words; None when they may."""
        if not Team.objects.for_user(user).exclude(pk=self.pk).exists():
            return f"{self.name} is your only team, so you cannot leave it."
        if self.removal_blocker(self.memberships.get(user=user)):
            return f"You are the only owner of {self.name}; a team needs an owner."
        return None

    def remove_member(self, membership: Membership) -> None:
        """End a membership. The person loses the team at once: the current team of every
        request is looked up among the teams the person is still a member of."""
        with transaction.atomic():
            # Two owners removing each other at the same time must not leave the team ownerless.
            list(self.memberships.select_for_update().filter(role=Membership.Role.OWNER))
            if blocker := self.removal_blocker(membership):
                raise TeamRuleError(blocker)
            membership.delete()

    def leave(self, user) -> None:
        if blocker := self.leaving_blocker(user):
            raise TeamRuleError(blocker)
        self.remove_member(self.memberships.get(user=user))


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

    @property
    def is_owner(self) -> bool:
        return self.role == self.Role.OWNER


def _invite_token() -> str:
    return secrets.token_urlsafe(24)


INVITE_DAYS = 7


def _invite_expiry():
    return timezone.now() + timedelta(days=INVITE_DAYS)


class InviteQuerySet(models.QuerySet["Invite"]):
    def usable(self) -> InviteQuerySet:
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def opened_by(self, path: str) -> Invite | None:
        """The usable invite whose join page `path` is (a sign-up's `next`), if any."""
        try:
            match = resolve(urlsplit(path).path)
        except (Resolver404, ValueError):
            return None
        if match.view_name != "teams:join":
            return None
        return self.usable().filter(token=match.kwargs["token"]).first()


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

    def get_absolute_url(self) -> str:
        return reverse("teams:join", args=[self.token])

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def accept(self, user) -> Membership:
        membership, _ = Membership.objects.get_or_create(team=self.team, user=user)
        return membership

    def revoke(self) -> None:
        """Stop the link working; revoking twice keeps the first time."""
        now = timezone.now()
        if Invite.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now):
            self.revoked_at = now


class ConfirmedEmail(models.Model):
    """An address its account proved it reads, by opening the link mailed to it. The account's
    address counts as confirmed while a row names it, so a changed address is unconfirmed
    until the new one is proved too."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="confirmed_emails")
    email = models.EmailField()
    confirmed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "email"], name="one_confirmation_per_address")]

    def __str__(self) -> str:
        return self.email
