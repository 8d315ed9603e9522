"""Links across one's own teams.

A link to something of another team the person belongs to (a generation, its files, a
gallery) switches them to that team at once and says so; to anyone outside that team it
is the same 404 as an id that does not exist.
"""

from __future__ import annotations

from typing import TypeVar

from django.contrib import messages
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404

from accounts.middleware import switch_team, user_teams
from accounts.models import Team

# What the browser fetches a URL as: a page opened (or a request that does not say) may
# switch the team; a thumbnail or a video inside a page of the other team must not.
PAGE_DESTINATIONS = {"", "document", "iframe"}

M = TypeVar("M", bound=Model)


def enter_team(request: HttpRequest, team: Team) -> None:
    """Make `team`, one of the person's, the current team, with a notice if it was not."""
    if request.team is not None and team.pk == request.team.pk:
        return
    switch_team(request, team)
    messages.info(request, f"Switched to team {team.name} to show this.")


def resolve_for_member(request: HttpRequest, queryset: QuerySet[M], pk: int, *, switch: bool = True) -> M:
    """Object `pk` of `queryset` when it belongs to one of the person's teams, else 404.

    When it belongs to another of their teams than the current one, they are switched to
    that team (unless `switch` is False: a file embedded in a page).
    """
    teams = {team.pk: team for team in user_teams(request)}
    found = get_object_or_404(queryset.filter(team__in=list(teams)), pk=pk)
    if switch:
        enter_team(request, teams[found.team_id])
    return found


def member_team(request: HttpRequest, value: str) -> Team:
    """The person's team whose id is `value` (as a URL carries it); 404 for any other value."""
    if value.isascii() and value.isdigit() and len(value) <= 18:
        team = next((team for team in user_teams(request) if team.pk == int(value)), None)
        if team is not None:
            return team
    raise Http404("No such team")


def opened_as_page(request: HttpRequest) -> bool:
    """Whether the browser opens this URL as a page, rather than loading it into one."""
    return request.headers.get("Sec-Fetch-Dest", "").lower() in PAGE_DESTINATIONS
