import pytest

from generations.forms import GenerationForm
from generations.models import Generation

VALID = {
    "prompt": "A red fox running through snow",
    "negative_prompt": "",
    "duration": "5",
    "aspect_ratio": "16:9",
    "cfg_scale": "0.5",
}


def form(**changes) -> GenerationForm:
    return GenerationForm(data={**VALID, **changes})


def test_it_accepts_a_complete_request():
    assert form().is_valid(), form().errors


def test_it_starts_with_the_documented_defaults():
    initial = {name: field.initial for name, field in GenerationForm().fields.items()}
    assert initial["duration"] == "5"
    assert initial["aspect_ratio"] == "16:9"
    assert initial["cfg_scale"] == 0.5


def test_it_rejects_a_prompt_over_2500_characters_and_keeps_the_text():
    long_prompt = "a slow pan across a neon city " * 90  # 2,700 characters
    bound = form(prompt=long_prompt)
    assert not bound.is_valid()
    assert bound.errors["prompt"] == ["The prompt is 2,700 characters long; the limit is 2,500."]
    assert bound["prompt"].value() == long_prompt


def test_it_rejects_a_negative_prompt_over_2500_characters():
    bound = form(negative_prompt="n" * 2501)
    assert not bound.is_valid()
    assert "2,501 characters" in bound.errors["negative_prompt"][0]


def test_it_asks_for_a_prompt():
    bound = form(prompt="")
    assert not bound.is_valid()
    assert bound.errors["prompt"] == ["Write a prompt describing the video you want."]


def test_it_rejects_an_undocumented_duration_in_words():
    bound = form(duration="7")
    assert not bound.is_valid()
    assert bound.errors["duration"] == ["Choose a duration of 5 or 10 seconds."]


def test_it_rejects_an_undocumented_aspect_ratio_in_words():
    bound = form(aspect_ratio="4:3")
    assert bound.errors["aspect_ratio"] == ["Choose an aspect ratio of 16:9, 9:16 or 1:1."]


def test_it_rejects_a_cfg_scale_above_1_in_words():
    assert form(cfg_scale="1.5").errors["cfg_scale"] == ["The CFG scale must be a number from 0.0 to 1.0."]
    assert form(cfg_scale="lots").errors["cfg_scale"] == ["The CFG scale must be a number from 0.0 to 1.0."]


def test_it_does_not_limit_typing_in_the_browser():
    # A maxlength attribute would silently cut pasted text; the counter and the error say it instead.
    html = str(GenerationForm()["prompt"])
    assert "maxlength" not in html
    assert 'data-limit="2500"' in html


@pytest.mark.django_db
def test_a_remix_is_filled_with_the_original_parameters(django_user_model):
    user = django_user_model.objects.create_user("ada")
    original = Generation(
        created_by=user, prompt="waves", negative_prompt="blur", duration="10", aspect_ratio="1:1", cfg_scale=0.8
    )
    remix = GenerationForm.remix_of(original)
    assert remix["prompt"].value() == "waves"
    assert remix["duration"].value() == "10"
    assert remix["aspect_ratio"].value() == "1:1"
    assert remix["cfg_scale"].value() == 0.8
