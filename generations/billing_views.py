"""The team's usage page (this month, or another, by member and by day) and its budget."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import Team
from generations import billing
from generations.billing import Month
from generations.forms import BudgetForm


def _render_usage(request: HttpRequest, team: Team, month: Month, form: BudgetForm | None = None, **extra):
    context = {
        "team": team,
        "usage": billing.usage_of(team, month),
        "is_owner": team.is_owner(request.user),
        "budget_form": form or BudgetForm(instance=team),
        "prices": billing.price_list(),
        **extra,
    }
    return render(request, "generations/usage.html", context)


@login_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    asked = request.GET.get("month", "")
    month = Month.parse(asked)
    unknown_month = bool(asked) and month is None
    return _render_usage(request, request.team, month or Month.current(), unknown_month=unknown_month)


@login_required
@require_POST
def set_budget(request: HttpRequest, team_id: int) -> HttpResponse:
    team = get_object_or_404(Team.objects.for_user(request.user), pk=team_id)
    if not team.is_owner(request.user):
        raise PermissionDenied("Only an owner of the team may set its budget.")
    form = BudgetForm(request.POST, instance=team)
    if not form.is_valid():
        return _render_usage(request, Team.objects.get(pk=team.pk), Month.current(), form)
    form.save()
    if team.monthly_budget is None:
        messages.success(request, f"{team.name} has no monthly budget now.")
    else:
        messages.success(request, f"The monthly budget of {team.name} is now {billing.money(team.monthly_budget)}.")
    return redirect(reverse("generations:usage"))
