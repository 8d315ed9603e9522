from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.switching import opened_as_page, resolve_for_member
from generations import billing
from generations.cards import card_context
from generations.forms import GenerationForm
from generations.media import file_response
from generations.models import Generation, GenerationQuerySet
from generations.sharing import share_control_context
from generations.tasks import queue_submission
from kling_studio.observability import bind

logger = logging.getLogger(__name__)

RECENT_COUNT = 24


def _generations(request: HttpRequest) -> GenerationQuerySet:
    return Generation.objects.select_related("created_by").with_favourite_of(request.user)


def get_generation_for_team(request: HttpRequest, pk: int) -> Generation:
    """For acting on a generation: only the current team's exist, as far as a request can tell."""
    generation = get_object_or_404(_generations(request).for_team(request.team), pk=pk)
    bind(generation)  # the request's log lines are about it
    return generation


def open_generation(request: HttpRequest, pk: int, *, switch: bool = True) -> Generation:
    """For opening a generation from a link: one of another of the person's teams switches
    them to that team (with a notice); anyone outside its team gets the same 404."""
    generation = resolve_for_member(request, _generations(request), pk, switch=switch)
    bind(generation)
    return generation


def open_generation_file(request: HttpRequest, pk: int) -> Generation:
    """A file opened as a page switches the team like the page; one loaded into a page does not."""
    return open_generation(request, pk, switch=opened_as_page(request))


QUEUED_LATER = (
    "Your video is saved, but the studio's work queue cannot be reached just now: "
    "it will be sent as soon as the queue is back. There is no need to submit it again."
)


def _start(request: HttpRequest, form: GenerationForm, sent_message: str) -> Generation:
    """Save the generation, then queue it for a worker: the API is never called here. One
    that would go past the team's monthly budget raises `billing.OverBudget`, saving nothing.

    The row is the outbox: when the queue cannot take the task, the person is told it
    will be sent shortly, and beat's recovery sends it once the queue is back.
    """
    generation = form.save(commit=False)
    generation.created_by = request.user
    generation.team = request.team
    billing.save_within_budget(generation)  # OverBudget: nothing saved, nothing sent
    bind(generation)
    logger.info("Generation %s created by user %s", generation.pk, request.user.pk)

    def queue() -> None:
        if queue_submission(generation.pk):
            messages.success(request, sent_message)
        else:
            messages.warning(request, QUEUED_LATER)

    transaction.on_commit(queue)
    return generation


def ids_in(values: list[str]) -> list[int]:
    """The generation ids in a request's values; anything that is not one is left out."""
    return [int(value) for value in values if value.isascii() and value.isdigit() and len(value) <= 18]


def _studio_context(request: HttpRequest, form: GenerationForm, **extra) -> dict:
    mine = Generation.objects.for_team(request.team).filter(created_by=request.user)
    recent = list(mine.newest_first()[:RECENT_COUNT])
    any_in_progress = any(generation.is_in_progress for generation in recent)
    return {"form": form, "generations": recent, "any_in_progress": any_in_progress, **extra}


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    form = GenerationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            generation = _start(request, form, "Your video is on its way.")
        except billing.OverBudget as refusal:
            form.add_error(None, str(refusal))  # shown above the form, with everything typed kept
            return _render_create_form(request, form)
        if request.htmx:
            # The form comes back as it was sent, so the next try is one small edit away.
            context = {"form": form, "new_generation": generation}
            return render(request, "generations/partials/create_form.html", context)
        return redirect("generations:create")
    return _render_create_form(request, form)


def _render_create_form(request: HttpRequest, form: GenerationForm) -> HttpResponse:
    if request.htmx:
        return render(request, "generations/partials/create_form.html", {"form": form})
    return render(request, "generations/create.html", _studio_context(request, form))


@login_required
@require_GET
def remix(request: HttpRequest, pk: int) -> HttpResponse:
    generation = open_generation(request, pk)
    context = _studio_context(request, GenerationForm.remix_of(generation), remix_of=generation)
    return render(request, "generations/create.html", context)


@login_required
@require_POST
def retry(request: HttpRequest, pk: int) -> HttpResponse:
    original = get_generation_for_team(request, pk)
    form = GenerationForm(data={f: getattr(original, f) for f in GenerationForm.Meta.fields})
    if not form.is_valid():
        messages.error(request, "That generation's parameters are no longer accepted; remix it instead.")
        return redirect("generations:remix", pk=original.pk)
    try:
        generation = _start(request, form, "Trying again with the same parameters.")
    except billing.OverBudget as refusal:
        messages.error(request, str(refusal))
        if request.htmx:  # the card stays as it was; the message says why nothing was sent
            return render(request, "partials/messages.html", {"oob": True})
        return redirect("generations:create")
    if request.htmx:
        return render(request, "generations/partials/retried_card.html", {"generation": generation, "fresh": True})
    return redirect("generations:create")


@login_required
@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_team(request, pk)
    if generation.cancel():
        messages.success(request, "Cancelled. The studio no longer follows it.")
    elif generation.status == Generation.Status.SUCCESS or generation.video_url:
        messages.info(request, "It finished before the cancel arrived, so it was kept.")
    else:
        messages.info(request, f"It had already ended ({generation.get_status_display().lower()}); nothing to cancel.")
    if request.htmx:
        # fresh: the card asks once more after 2 s, in case the service's answer came before it was in the page
        context = {"generation": generation, **card_context(request), "fresh": True}
        return render(request, "generations/partials/cancelled_card.html", context)
    return redirect("generations:detail", pk=generation.pk)


@login_required
@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    generation = open_generation(request, pk)
    return render(request, "generations/detail.html", share_control_context(request, generation))


@login_required
@require_GET
def video(request: HttpRequest, pk: int) -> HttpResponseBase:
    generation = open_generation_file(request, pk)
    return file_response(request, generation.video, "video/mp4")


@login_required
@require_GET
def thumbnail(request: HttpRequest, pk: int) -> HttpResponseBase:
    generation = open_generation_file(request, pk)
    return file_response(request, generation.thumbnail, "image/jpeg")
