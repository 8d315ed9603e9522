"""Live cards: the event stream a page listens to, and the cards it fetches when told to.

A page opens one server-sent event stream of its team's status changes; a card whose
event arrives fetches itself (`card`). While the stream is down, one poller per page
fetches every unfinished card it shows in one request (`live_cards`).
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from redis import RedisError

from generations import live
from generations.cards import card_context
from generations.models import Generation
from generations.views import get_generation_for_team, ids_in

LIVE_CARDS_LIMIT = 200


def render_cards(request: HttpRequest, generations: list[Generation], *, oob: bool = False) -> HttpResponse:
    context = {"generations": generations, **card_context(request), "oob": oob}
    return render(request, "generations/partials/live_cards.html", context)


@login_required
@require_GET
def card(request: HttpRequest, pk: int) -> HttpResponse:
    return render_cards(request, [get_generation_for_team(request, pk)])


@login_required
@require_GET
def live_cards(request: HttpRequest) -> HttpResponse:
    """The page's one poller: every card it names, swapped in out of band."""
    ids = ids_in(request.GET.getlist("id"))
    generations = list(
        Generation.objects.for_team(request.team)
        .filter(pk__in=ids[:LIVE_CARDS_LIMIT])
        .select_related("created_by")
        .with_favourite_of(request.user)
        .newest_first()
    )
    return render_cards(request, generations, oob=True)


def _team_id(request: HttpRequest) -> int | None:
    try:
        return request.team.pk if request.team else None
    finally:
        connections.close_all()  # this thread's: a stream open for minutes holds no database connection


@login_required
@require_GET
async def events(request: HttpRequest) -> HttpResponse:
    """The current team's status changes, as server-sent events (needs the ASGI server)."""
    team_id = await sync_to_async(_team_id)(request)
    if team_id is None:
        return HttpResponse(status=204)  # tells the browser's EventSource to stop
    try:
        events = await live.subscribe(team_id)
    except (RedisError, OSError):
        return HttpResponse("Live updates are unavailable; the page polls instead.", status=503)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response
