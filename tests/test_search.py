"""The gallery's search: what `GenerationQuerySet.search(text)` finds, on whatever database runs.

Every word must appear, in any case, somewhere inside the prompt or the negative prompt;
what a person types is plain text, never query syntax.
"""

from __future__ import annotations

import pytest

from generations.models import Generation
from tests.factories import make_generation

pytestmark = pytest.mark.django_db


def found(team, text: str) -> set[str]:
    return set(Generation.objects.for_team(team).search(text).values_list("prompt", flat=True))


def test_it_finds_a_word_inside_a_longer_word(owner, team):
    make_generation(owner, team, prompt="A lighthouse at dawn")
    make_generation(owner, team, prompt="A lamp post at dusk")
    assert found(team, "light") == {"A lighthouse at dawn"}
    assert found(team, "ghthou") == {"A lighthouse at dawn"}


def test_case_does_not_matter(owner, team):
    make_generation(owner, team, prompt="A Lighthouse at DAWN")
    assert found(team, "LIGHTHOUSE") == {"A Lighthouse at DAWN"}
    assert found(team, "dawn") == {"A Lighthouse at DAWN"}
    assert found(team, "lIgHtHoUsE dAwN") == {"A Lighthouse at DAWN"}


def test_the_negative_prompt_counts(owner, team):
    make_generation(owner, team, prompt="A red fox", negative_prompt="Blurry, watermark")
    make_generation(owner, team, prompt="A watermarked blurry photo of a fox")
    assert found(team, "blurry") == {"A red fox", "A watermarked blurry photo of a fox"}
    assert found(team, "red fox BLURRY") == {"A red fox"}  # words may come from either field


def test_every_word_must_appear(owner, team):
    make_generation(owner, team, prompt="A red fox in the snow")
    make_generation(owner, team, prompt="A red kite in the wind")
    assert found(team, "red snow") == {"A red fox in the snow"}
    assert found(team, "fox kite") == set()
    assert found(team, "red") == {"A red fox in the snow", "A red kite in the wind"}


def test_words_too_short_for_the_index_still_work(owner, team):
    make_generation(owner, team, prompt="A red fox", negative_prompt="3D render")
    make_generation(owner, team, prompt="A grey wolf")
    assert found(team, "ox") == {"A red fox"}
    assert found(team, "3d") == {"A red fox"}  # in the negative prompt, in another case
    assert found(team, "w") == {"A grey wolf"}
    assert found(team, "ox red") == {"A red fox"}  # a short and a long word together
    assert found(team, "ox grey") == set()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('"open*"', {'Sign says "OPEN*" -- come (in)'}),  # quotes and the star are characters
        ('"', {'Sign says "OPEN*" -- come (in)'}),
        ('"""', set()),
        ('says "OPEN', {'Sign says "OPEN*" -- come (in)'}),
        ("-- (in)", {'Sign says "OPEN*" -- come (in)'}),
        ("lig*", set()),  # not a prefix query
        ("lighthouse OR zeppelin", set()),  # not an OR: "OR" and "zeppelin" must appear too
        ("NOT lighthouse", set()),
        ("-lighthouse", set()),
        ("(dawn", set()),
        ("dawn)", set()),
        ("prompt:dawn", set()),  # not a column filter
        ("NEAR(lighthouse dawn)", set()),
        ("^lighthouse", set()),
        ("lighthouse + dawn", set()),
    ],
)
def test_search_syntax_in_the_text_is_plain_text(owner, team, text, expected):
    make_generation(owner, team, prompt="A lighthouse at dawn")
    make_generation(owner, team, prompt='Sign says "OPEN*" -- come (in)')
    assert found(team, text) == expected


def test_other_teams_generations_are_never_found(owner, team, django_user_model):
    outsider = django_user_model.objects.create_user("oscar")
    make_generation(outsider, prompt="A confidential storyboard", negative_prompt="secret")
    make_generation(owner, team, prompt="A public storyboard")
    assert found(team, "storyboard") == {"A public storyboard"}
    assert found(team, "confidential") == set()
    assert found(team, "secret") == set()
    assert found(team, "storyboard ox") == set()
