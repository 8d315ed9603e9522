from __future__ import annotations

from django import forms

from accounts.models import Team


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
