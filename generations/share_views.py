"""Share links: members start and stop them; anyone with one sees the video, and nothing else."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from generations.media import file_response
from generations.models import ShareLink
from generations.sharing import SHARED_FILE_LINK_SECONDS, SharingRefused, share_control_context
from generations.views import get_generation_for_team

CONTROL = "generations/partials/share_control.html"


@login_required
@require_POST
def share(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_team(request, pk)
    try:
        ShareLink.objects.start(generation, request.user)
    except SharingRefused as refusal:
        if request.htmx:
            return render(request, CONTROL, share_control_context(request, generation, share_error=str(refusal)))
        messages.error(request, str(refusal))
        return redirect("generations:detail", pk=pk)
    if request.htmx:
        return render(request, CONTROL, share_control_context(request, generation))
    messages.success(request, "Anyone with the link can now watch this video.")
    return redirect(reverse("generations:detail", args=[pk]) + "#share-control")


@login_required
@require_POST
def stop_sharing(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_team(request, pk)
    ShareLink.objects.stop(generation, request.user)
    if request.htmx:
        return render(request, CONTROL, share_control_context(request, generation, share_stopped=True))
    messages.success(request, "The link no longer works.")
    return redirect(reverse("generations:detail", args=[pk]) + "#share-control")


def _shared_link(token: str) -> ShareLink:
    link = ShareLink.objects.by_token(token)
    if link is None:
        raise Http404("No such share link")
    return link


@never_cache  # a stopped link must not live on in a cache
@require_GET
def shared(request: HttpRequest, token: str) -> HttpResponse:
    link = _shared_link(token)
    generation = link.generation

    def absolute(name: str) -> str:
        return request.build_absolute_uri(reverse(f"generations:{name}", args=[token]))

    context = {
        "generation": generation,
        "page_url": absolute("shared"),
        "video_url": absolute("shared_video"),
        "thumbnail_url": absolute("shared_thumbnail") if generation.thumbnail else "",
    }
    return render(request, "generations/share.html", context)


@never_cache
@require_GET
def shared_video(request: HttpRequest, token: str) -> HttpResponseBase:
    generation = _shared_link(token).generation
    return file_response(request, generation.video, "video/mp4", link_seconds=SHARED_FILE_LINK_SECONDS)


@never_cache
@require_GET
def shared_thumbnail(request: HttpRequest, token: str) -> HttpResponseBase:
    generation = _shared_link(token).generation
    return file_response(request, generation.thumbnail, "image/jpeg", link_seconds=SHARED_FILE_LINK_SECONDS)
