"""Small builders for test data, so each test says only what matters to it."""

from __future__ import annotations

from accounts.models import Team
from generations.models import Generation
from generations.rules import VideoParameters

# The request body of the API document's own example.
DOCUMENTED_EXAMPLE = VideoParameters(
    prompt="A majestic eagle soaring through a mountain landscape at sunset",
    negative_prompt="blurry, low quality, distorted",
    duration="5",
    aspect_ratio="16:9",
    cfg_scale=0.7,
)


def make_generation(user, team: Team | None = None, **fields) -> Generation:
    """A generation by `user`, in `team` or else the user's own first team."""
    team = team or Team.objects.for_user(user).first()
    return Generation.objects.create(created_by=user, team=team, **fields)
