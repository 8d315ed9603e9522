"""The team gallery: browse, filter, search, and act on what the team has made."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import push_url

from accounts.switching import enter_team, member_team
from generations.archive import zip_response
from generations.gallery import GalleryFilterForm
from generations.media import file_response
from generations.models import Favourite, Generation
from generations.views import get_generation_for_team, ids_in, open_generation_file
from kling_studio.redirects import safe_next

BULK_LIMIT = 100


@login_required
@require_GET
def gallery(request: HttpRequest) -> HttpResponse:
    results = bool(request.htmx) and request.htmx.target == "gallery-results"
    more = bool(request.htmx) and bool(request.GET.get("cursor"))
    team = request.team
    if team_id := request.GET.get("team"):  # a gallery link names its team; older ones mean the current team
        team = member_team(request, team_id)
        if not (results or more):  # a page opened switches; a page's own requests for more do not
            enter_team(request, team)
    form = GalleryFilterForm(request.GET, team=team, user=request.user)
    page = form.page()
    next_query = form.query_string(cursor=page.next_cursor)
    context = {"form": form, "page": page, "next_query": next_query, "bulk_limit": BULK_LIMIT}
    if results:
        # The date range's error (or its absence) replaces the one beside the date fields.
        context["swap_filter_errors"] = True
        response = render(request, "generations/partials/gallery_results.html", context)
        # The address bar gets the tidy, shareable form of the filters (no empty fields).
        return push_url(response, reverse("generations:gallery") + "?" + form.query_string(cursor=None))
    if more:
        return render(request, "generations/partials/gallery_page.html", context)
    return render(request, "generations/gallery.html", context)


@login_required
@require_POST
def favourite(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_team(request, pk)
    deleted, _ = Favourite.objects.filter(user=request.user, generation=generation).delete()
    if not deleted:
        Favourite.objects.get_or_create(user=request.user, generation=generation)
    generation.is_favourite = not deleted
    if request.htmx:
        return render(request, "generations/partials/favourite_button.html", {"generation": generation})
    return _back(request, reverse("generations:detail", args=[pk]))


@login_required
@require_GET
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    generation = open_generation_file(request, pk)
    return file_response(request, generation.video, "video/mp4", attachment=generation.download_filename)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    generation = get_generation_for_team(request, pk)
    if request.method == "POST":
        with transaction.atomic():
            generation.delete_with_files()
        messages.success(request, "The generation and its files were deleted.")
        return redirect("generations:gallery")
    return render(request, "generations/confirm_delete.html", {"generations": [generation]})


@login_required
@require_POST
def bulk(request: HttpRequest) -> HttpResponseBase:
    ids = ids_in(request.POST.getlist("ids"))
    selected = list(Generation.objects.for_team(request.team).filter(pk__in=ids[:BULK_LIMIT]).newest_first())
    back = _back(request, reverse("generations:gallery"))
    if not selected:
        messages.error(request, "Select one or more generations first.")
        return back
    action = request.POST.get("action")
    if action == "favourite":
        Favourite.objects.bulk_create(
            [Favourite(user=request.user, generation=generation) for generation in selected], ignore_conflicts=True
        )
        messages.success(request, f"Added {len(selected)} to your favourites.")
        return back
    if action == "unfavourite":
        removed, _ = Favourite.objects.filter(user=request.user, generation__in=selected).delete()
        messages.success(request, f"Removed {removed} from your favourites.")
        return back
    if action == "delete":
        if request.POST.get("confirm") != "yes":
            return render(request, "generations/confirm_delete.html", {"generations": selected, "bulk": True})
        with transaction.atomic():
            for generation in selected:
                generation.delete_with_files()
        messages.success(request, f"Deleted {len(selected)} generations and their files.")
        return back
    if action == "download":
        return zip_response(selected)
    messages.error(request, "Choose what to do with the selection.")
    return back


def _back(request: HttpRequest, default: str) -> HttpResponse:
    return redirect(safe_next(request) or default)
