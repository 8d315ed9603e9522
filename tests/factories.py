"""Small builders for test data, so each test says only what matters to it."""

from __future__ import annotations

from accounts.models import Team
from generations.models import Generation


def make_generation(user, team: Team | None = None, **fields) -> Generation:
    """A generation by `user`, in `team` or else the user's own first team."""
    team = team or Team.objects.for_user(user).first()
    return Generation.objects.create(created_by=user, team=team, **fields)
