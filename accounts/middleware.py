from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.models import Team

SESSION_KEY = "team_id"


def user_teams(request: HttpRequest) -> list[Team]:
    """The person's teams, read once per request (the nav and the current team share it)."""
    if not hasattr(request, "_user_teams"):
        request._user_teams = list(Team.objects.for_user(request.user))
    return request._user_teams


def current_team(request: HttpRequest) -> Team | None:
    """The team the person works in now: the one they switched to, else their first."""
    teams = user_teams(request)
    chosen = request.session.get(SESSION_KEY)
    team = next((team for team in teams if team.pk == chosen), None) or (teams[0] if teams else None)
    if team is None and request.user.is_authenticated:
        team = Team.objects.create_personal(request.user)
        request._user_teams = [team]
    return team


def switch_team(request: HttpRequest, team: Team) -> None:
    request.session[SESSION_KEY] = team.pk
    request.team = team
    request.__dict__.pop("_user_teams", None)


class CurrentTeamMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        request.team = SimpleLazyObject(lambda: current_team(request))
        return self.get_response(request)
