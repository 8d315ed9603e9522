"""A link across one's own teams: a teammate working in another team opens it and is
switched to the link's team at once, with a notice; an outsider gets 404."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from accounts.models import Team
from tests.test_browser import sign_up, sign_up_and_join
from tests.test_browser_sharing import PROMPT, finished_video

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

NOTICE = "Switched to team anna's team to show this."


def test_a_teammate_working_in_another_team_opens_links_to_a_generation_and_a_gallery(
    open_page, studio_server, tmp_path
):
    anna, ben, cora = open_page(), open_page(), open_page()
    sign_up_and_join(anna, ben, studio_server, "anna", "ben")
    generation = finished_video(get_user_model().objects.get(username="anna"), tmp_path)
    annas, bens = Team.objects.get(name="anna's team"), Team.objects.get(name="ben's team")

    # Anna copies the address of her generation and of her gallery, searched.
    anna.goto(f"{studio_server.url}/gallery/")
    anna.get_by_label("Search").fill("kite")
    gallery_link = f"{studio_server.url}/gallery/?team={annas.pk}&q=kite"
    expect(anna).to_have_url(gallery_link)
    detail_link = f"{studio_server.url}/generations/{generation.pk}/"

    # Ben is working in his own team when the links reach him.
    switcher = ben.get_by_label("Team", exact=True)
    switcher.select_option(label="ben's team")
    ben.get_by_role("button", name="Switch").click()
    expect(switcher).to_have_value(str(bens.pk))

    assert ben.goto(detail_link).status == 200
    expect(ben.get_by_role("heading", name=f"Generation {generation.pk}")).to_be_visible()
    expect(ben.locator("#messages")).to_contain_text(NOTICE)
    expect(switcher).to_have_value(str(annas.pk))
    video = ben.locator("article.detail video")
    ben.wait_for_function("v => v.readyState >= 1 && v.videoWidth === 1280", arg=video.element_handle())

    switcher.select_option(label="ben's team")
    ben.get_by_role("button", name="Switch").click()
    expect(switcher).to_have_value(str(bens.pk))
    ben.goto(gallery_link)
    expect(ben.locator("#messages")).to_contain_text(NOTICE)
    expect(ben.get_by_role("heading", level=1)).to_have_text("anna's team · Gallery")
    expect(ben.locator("#gallery-grid .gallery-card")).to_contain_text(PROMPT)
    expect(ben.get_by_label("Search")).to_have_value("kite")

    # Cora, in neither team, gets the page a missing one gets.
    sign_up(cora, studio_server, "cora")
    assert cora.goto(detail_link).status == 404
    assert cora.goto(gallery_link).status == 404
    assert cora.request.get(f"{studio_server.url}/generations/{generation.pk}/video.mp4").status == 404
