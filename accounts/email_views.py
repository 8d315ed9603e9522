"""One's own email address: what it is, whether it is confirmed, sending the link again,
and opening the link."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts import email_confirmation
from accounts.forms import EmailAddressForm

SENT_WORDS = {
    "sent": "We sent a link to {email}. Open it to confirm the address; you can go on working meanwhile.",
    "wait": "A link went to {email} less than a minute ago. Check that inbox (and its spam folder) first.",
    "failed": "The studio could not send mail to {email} just now. Try again in a few minutes.",
}


def tell_about_confirmation(request: HttpRequest, outcome: str, email: str) -> None:
    level = messages.success if outcome == "sent" else messages.warning
    level(request, SENT_WORDS[outcome].format(email=email))


@login_required
@require_http_methods(["GET", "POST"])
def email_address(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = EmailAddressForm(request.POST or None, instance=user, initial={"email": user.email})
    if request.method == "POST" and form.is_valid():
        if "email" in form.changed_data:
            form.save()
            tell_about_confirmation(request, email_confirmation.send_confirmation(request, user), user.email)
        return redirect("email_address")
    if request.method == "POST":
        user.refresh_from_db(fields=["email"])  # the page shows the address the account has, not the one refused
    context = {"form": form, "confirmed": email_confirmation.is_confirmed(user)}
    return render(request, "accounts/email_address.html", context)


@login_required
@require_POST
def send_confirmation(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not user.email:
        messages.warning(request, "Add an email address first.")
    elif email_confirmation.is_confirmed(user):
        messages.info(request, f"{user.email} is already confirmed.")
    else:
        tell_about_confirmation(request, email_confirmation.send_confirmation(request, user), user.email)
    return redirect("email_address")


@require_GET
def confirm_email(request: HttpRequest, token: str) -> HttpResponse:
    try:
        user = email_confirmation.confirm(token)
    except email_confirmation.ConfirmationError as refusal:
        return render(request, "accounts/email_confirm_failed.html", {"reason": str(refusal)}, status=400)
    return render(request, "accounts/email_confirmed.html", {"email": user.email})
