from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import Team

SESSION_KEY = "team_id"


def current_team(request: HttpRequest) -> Team | None:
    """The team the person works in now: the one they switched to, else their first."""
    teams = Team.objects.for_user(request.user)
    chosen = request.session.get(SESSION_KEY)
    team = (teams.filter(pk=chosen).first() if chosen else None) or teams.first()
    if team is None and request.user.is_authenticated:
        team = Team.objects.create_personal(request.user)
    return team


def switch_team(request: HttpRequest, team: Team) -> None:
    request.session[SESSION_KEY] = team.pk
    request.team = team


class CurrentTeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        request.team = SimpleLazyObject(lambda: current_team(request))
        return self.get_response(request)
