from django.http import HttpRequest

from accounts.middleware import user_teams


def teams(request: HttpRequest) -> dict:
    """The current team and the person's teams, for the team switcher."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"current_team": request.team, "user_teams": user_teams(request)}
