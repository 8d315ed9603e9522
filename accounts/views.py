from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import email_confirmation, mail
from accounts.email_views import tell_about_confirmation
from accounts.forms import InviteByEmailForm, SignupForm, SwitchTeamForm, TeamNameForm
from accounts.middleware import switch_team
from accounts.models import INVITE_DAYS, Invite, Team, TeamRuleError
from generations.models import ShareLink
from kling_studio.redirects import safe_next

SHARES_LISTED = 100
INVITE_MAILS_PER_HOUR = 30


def _get_team_for_member(request: HttpRequest, team_id: int) -> Team:
    """One of the person's teams; to them, no other team exists."""
    return get_object_or_404(Team.objects.for_user(request.user), pk=team_id)


def _get_team_for_owner(request: HttpRequest, team_id: int) -> Team:
    team = _get_team_for_member(request, team_id)
    if not team.is_owner(request.user):
        raise PermissionDenied("Only an owner of the team may do that.")
    return team


def _render_team_page(
    request: HttpRequest,
    team: Team,
    name_form: TeamNameForm | None = None,
    invite_form: InviteByEmailForm | None = None,
) -> HttpResponse:
    is_owner = team.is_owner(request.user)
    invites = list(team.invites.usable().select_related("created_by").order_by("-created_at")) if is_owner else []
    for invite in invites:
        invite.absolute_url = request.build_absolute_uri(invite.get_absolute_url())
    context = {
        "team": team,
        "is_owner": is_owner,
        "memberships": team.memberships.select_related("user").order_by("created_at", "pk"),
        "invites": invites,
        "name_form": name_form or TeamNameForm(instance=team),
        "invite_form": invite_form or InviteByEmailForm(),
        "leaving_blocker": team.leaving_blocker(request.user),
        "shares": ShareLink.objects.for_team(team)
        .select_related("generation", "created_by", "revoked_by")
        .order_by("-created_at", "-pk")[:SHARES_LISTED],
    }
    return render(request, "accounts/team_detail.html", context)


def signup_open(next_url: str) -> bool:
    """Whether a new account may be made: always, unless the studio is invitation-only
    (ALLOW_SIGNUP off); then only on the way to a working invite link (`next_url`)."""
    return settings.ALLOW_SIGNUP or Invite.objects.opened_by(next_url) is not None


class LoginView(auth_views.LoginView):
    """Django's log-in, offering sign-up only where it is open."""

    def get_context_data(self, **kwargs) -> dict:
        return super().get_context_data(**kwargs) | {"signup_open": signup_open(safe_next(self.request))}


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    next_url = safe_next(request)
    if request.user.is_authenticated:
        return redirect(next_url or "generations:create")
    if not signup_open(next_url):
        return render(request, "registration/signup_closed.html", {"next": next_url}, status=403)
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        tell_about_confirmation(request, email_confirmation.send_confirmation(request, user), user.email)
        return redirect(next_url or "generations:create")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


@login_required
@require_GET
def team_detail(request: HttpRequest) -> HttpResponse:
    return _render_team_page(request, _get_team_for_member(request, request.team.pk))


@login_required
@require_POST
def rename(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _get_team_for_owner(request, team_id)
    form = TeamNameForm(request.POST, instance=team)
    if not form.is_valid():
        return _render_team_page(request, team, name_form=form)
    form.save()
    messages.success(request, f"The team is now called {team.name}.")
    return redirect("teams:detail")


@login_required
@require_POST
def create_invite(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _get_team_for_owner(request, team_id)
    invite = team.create_invite(created_by=request.user)
    messages.success(request, "Invite link created. Anyone who opens it while logged in can join the team.")
    return redirect(reverse("teams:detail") + f"#invite-{invite.pk}")


@login_required
@require_POST
def email_invite(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _get_team_for_owner(request, team_id)
    form = InviteByEmailForm(request.POST)
    if not form.is_valid():
        return _render_team_page(request, team, invite_form=form)
    if not mail.within_hourly_limit(f"invites:{request.user.pk}", INVITE_MAILS_PER_HOUR):
        form.add_error("email", f"You sent {INVITE_MAILS_PER_HOUR} invites this hour; send more later.")
        return _render_team_page(request, team, invite_form=form)
    invite, address = team.create_invite(created_by=request.user), form.cleaned_data["email"]
    if not mail.send_invite(invite, address, request.build_absolute_uri(invite.get_absolute_url())):
        invite.revoke()  # a link nobody received should not stay usable
        form.add_error("email", f"The studio could not send mail to {address} just now. Try again in a few minutes.")
        return _render_team_page(request, team, invite_form=form)
    messages.success(
        request, f"Invite sent to {address}. The link in it works for {INVITE_DAYS} days, or until revoked."
    )
    return redirect(reverse("teams:detail") + f"#invite-{invite.pk}")


@login_required
@require_POST
def revoke_invite(request: HttpRequest, team_id: int, invite_id: int) -> HttpResponse:
    team = _get_team_for_owner(request, team_id)
    get_object_or_404(team.invites, pk=invite_id).revoke()
    messages.success(request, "Invite link revoked; it no longer works.")
    return redirect("teams:detail")


@login_required
@require_http_methods(["GET", "POST"])
def remove_member(request: HttpRequest, team_id: int, membership_id: int) -> HttpResponse:
    team = _get_team_for_owner(request, team_id)
    membership = get_object_or_404(team.memberships.select_related("user"), pk=membership_id)
    if request.method == "GET":
        context = {"team": team, "membership": membership, "blocker": team.removal_blocker(membership)}
        return render(request, "accounts/remove_member.html", context)
    try:
        team.remove_member(membership)
    except TeamRuleError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"{membership.user.get_username()} is no longer in {team.name}.")
    return redirect("teams:detail")


@login_required
@require_POST
def leave(request: HttpRequest, team_id: int) -> HttpResponse:
    team = _get_team_for_member(request, team_id)
    try:
        team.leave(request.user)
    except TeamRuleError as refusal:
        messages.error(request, str(refusal))
    else:
        messages.success(request, f"You left {team.name}.")
    return redirect("teams:detail")


@login_required
@require_POST
def switch(request: HttpRequest) -> HttpResponse:
    form = SwitchTeamForm(request.user, request.POST)
    if not form.is_valid():
        raise Http404("You are not in that team.")
    switch_team(request, form.cleaned_data["team"])
    return redirect(safe_next(request) or "generations:create")


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """The invite, for anyone holding its link: a logged-out visitor sees which team invited
    them and by whom, and logs in or signs up to come back here; joining takes a log-in."""
    invite = Invite.objects.usable().select_related("team", "created_by").filter(token=token).first()
    if invite is None:
        return render(request, "accounts/invite_unusable.html", status=404)
    if not request.user.is_authenticated and request.method == "POST":
        return redirect_to_login(request.path)
    if request.method == "GET":
        context = {
            "invite": invite,
            "team": invite.team,
            "already_member": request.user.is_authenticated and invite.team.has_member(request.user),
        }
        return render(request, "accounts/join.html", context)
    # Joining happens only here, on a POST, which Django checks for the CSRF token. If opening
    # the link joined, any other site could put a logged-in visitor into a team of its choosing
    # (with a link, or an <img> pointing at it), switch them to it, and read what they make there.
    invite.accept(request.user)
    switch_team(request, invite.team)
    messages.success(request, f"You are now working in {invite.team.name}.")
    return redirect("generations:create")
