from django.http import HttpRequest

from accounts.models import Team


def teams(request: HttpRequest) -> dict:
    """The current team and the person's teams, for the team switcher."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"current_team": request.team, "user_teams": Team.objects.for_user(request.user)}
