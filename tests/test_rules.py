import pytest

from generations.rules import InvalidParameters, VideoParameters
from tests.factories import DOCUMENTED_EXAMPLE


def test_it_accepts_the_documented_example():
    assert DOCUMENTED_EXAMPLE.errors() == {}
    assert DOCUMENTED_EXAMPLE.as_payload()["cfg_scale"] == 0.7


def test_its_defaults_are_the_documented_defaults():
    assert VideoParameters().as_payload() == {
        "prompt": "",
        "negative_prompt": "",
        "duration": "5",
        "aspect_ratio": "16:9",
        "cfg_scale": 0.5,
    }


def test_it_accepts_prompts_of_exactly_2500_characters():
    assert VideoParameters(prompt="x" * 2500, negative_prompt="y" * 2500).errors() == {}


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_it_rejects_text_over_2500_characters(field):
    errors = VideoParameters(**{field: "x" * 2501}).errors()
    assert list(errors) == [field]
    assert "2,501 characters" in errors[field] and "2,500" in errors[field]


@pytest.mark.parametrize("duration", ["7", "", 5, "5s", None])
def test_it_rejects_a_duration_other_than_5_or_10(duration):
    assert "duration" in VideoParameters(duration=duration).errors()


@pytest.mark.parametrize("ratio", ["4:3", "16x9", "", None])
def test_it_rejects_an_undocumented_aspect_ratio(ratio):
    assert "aspect_ratio" in VideoParameters(aspect_ratio=ratio).errors()


@pytest.mark.parametrize("cfg", [-0.01, 1.01, float("nan"), "0.5", True, None])
def test_it_rejects_a_cfg_scale_outside_0_to_1(cfg):
    assert "cfg_scale" in VideoParameters(cfg_scale=cfg).errors()


@pytest.mark.parametrize("cfg", [0, 0.0, 1, 1.0, 0.25])
def test_it_accepts_cfg_scales_from_0_to_1_inclusive(cfg):
    assert VideoParameters(cfg_scale=cfg).errors() == {}


def test_as_payload_refuses_invalid_parameters_with_every_error():
    with pytest.raises(InvalidParameters) as caught:
        VideoParameters(duration="7", aspect_ratio="4:3").as_payload()
    assert set(caught.value.errors) == {"duration", "aspect_ratio"}
