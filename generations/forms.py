from __future__ import annotations

from django import forms

from accounts.models import Team
from generations import billing, rules
from generations.models import Generation


class GenerationForm(forms.ModelForm):
    """The prompt and parameters. The contract's rules come from `rules`, the one source."""

    prompt = forms.CharField(
        label="Prompt",
        widget=forms.Textarea(attrs={"rows": 5, "data-limit": rules.PROMPT_MAX_LENGTH}),
        error_messages={"required": "Write a prompt describing the video you want."},
        strip=False,
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "data-limit": rules.PROMPT_MAX_LENGTH}),
        help_text="What to keep out of the video, such as “blurry, low quality”.",
    )
    duration = forms.ChoiceField(
        label="Duration",
        choices=Generation.Duration.choices,
        initial=Generation.Duration.FIVE,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose a duration of 5 or 10 seconds."},
    )
    aspect_ratio = forms.ChoiceField(
        label="Aspect ratio",
        choices=Generation.AspectRatio.choices,
        initial=Generation.AspectRatio.LANDSCAPE,
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": "Choose an aspect ratio of 16:9, 9:16 or 1:1."},
    )
    cfg_scale = forms.FloatField(
        label="CFG scale",
        initial=rules.CFG_SCALE_DEFAULT,
        widget=forms.NumberInput(attrs={"step": "0.05", "min": rules.CFG_SCALE_MIN, "max": rules.CFG_SCALE_MAX}),
        help_text="Lower (0.3–0.5) is more creative; higher (0.7–1.0) follows the prompt more closely.",
        error_messages={"invalid": "The CFG scale must be a number from 0.0 to 1.0."},
    )

    prompt_limit_display = f"{rules.PROMPT_MAX_LENGTH:,}"

    @property
    def prices_display(self) -> str:
        return billing.price_list()

    class Meta:
        model = Generation
        fields = ["prompt", "negative_prompt", "duration", "aspect_ratio", "cfg_scale"]

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def clean_prompt(self) -> str:
        prompt = self.cleaned_data["prompt"]
        if not prompt.strip():  # spaces only (the field keeps them, so nothing typed is lost)
            raise forms.ValidationError("Write a prompt describing the video you want: spaces alone describe nothing.")
        return prompt

    def clean(self):
        cleaned = super().clean()
        values = {field: cleaned.get(field) for field in self.Meta.fields}
        values["negative_prompt"] = values["negative_prompt"] or ""
        for field, message in rules.parameter_errors(values).items():
            if field not in self.errors and (field != "prompt" or values["prompt"] is not None):
                self.add_error(field, message)
        return cleaned

    @classmethod
    def remix_of(cls, generation: Generation) -> GenerationForm:
        """A form filled with another generation's parameters, to tweak and send."""
        return cls(initial={field: getattr(generation, field) for field in cls.Meta.fields})


class BudgetForm(forms.ModelForm):
    """A team's monthly budget, set by an owner; empty for none."""

    monthly_budget = forms.DecimalField(
        label="Monthly budget",
        required=False,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
        help_text="The most the team may spend on videos in a calendar month. Leave it empty for no budget.",
        error_messages={
            "invalid": "Write the budget as an amount, such as 50 or 49.50.",
            "min_value": "A budget cannot be below 0.",
            "max_digits": "That budget is too large.",
            "max_whole_digits": "That budget is too large.",
            "max_decimal_places": "A budget has at most 2 decimals.",
        },
    )

    class Meta:
        model = Team
        fields = ["monthly_budget"]
