from __future__ import annotations

import hashlib

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm, UserCreationForm

from accounts import mail
from accounts.models import Team

RESET_MAIL_SECONDS = 300
EMAIL_ERRORS = {"required": "Enter your email address.", "invalid": "Enter an email address such as maria@example.com."}


class SignupForm(UserCreationForm):
    """Username, email and password. The address is asked for at once (for password resets and
    invites), and confirming it is offered afterwards, not required before working."""

    email = forms.EmailField(
        label="Email",
        max_length=254,
        error_messages=EMAIL_ERRORS,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")


class EmailAddressForm(forms.ModelForm):
    """The address on one's own account."""

    class Meta:
        model = get_user_model()
        fields = ["email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["email"].error_messages.update(EMAIL_ERRORS)
        self.fields["email"].widget.attrs["autocomplete"] = "email"


class InviteByEmailForm(forms.Form):
    email = forms.EmailField(
        label="Invite by email",
        max_length=254,
        error_messages={"required": "Enter the address to send the invite to.", "invalid": EMAIL_ERRORS["invalid"]},
    )


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset form (the same answer whether or not an account has the address), sending
    at most one mail per address every RESET_MAIL_SECONDS, and none the server refuses loudly."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        address = hashlib.sha256(to_email.lower().encode()).hexdigest()
        if not mail.first_in_a_while(f"reset:{address}:{context['uid']}", RESET_MAIL_SECONDS):
            return
        mail.send("registration/password_reset", context, to_email)


class TeamNameForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]
        labels = {"name": "Team name"}
        error_messages = {
            "name": {
                "required": "A team needs a name.",
                "max_length": "A team name can be at most %(limit_value)d characters long.",
            }
        }


class SwitchTeamForm(forms.Form):
    """Which of the person's own teams to work in; any other team is not a choice."""

    team = forms.ModelChoiceField(queryset=Team.objects.none())

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = Team.objects.for_user(user)
