"""Requests made outside the studio come into the gallery; the admin shows it all."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from generations.gmi import GMIClient
from generations.models import Generation
from generations.rules import MODEL_ID, VideoParameters
from tests.conftest import wait_for
from tests.factories import make_generation
from tests.servers import StubServer

pytestmark = pytest.mark.django_db


def run_import(team, user) -> str:
    out = io.StringIO()
    call_command("import_requests", team=str(team.pk), user=user.username, stdout=out)
    return out.getvalue()


def test_it_imports_outside_requests_once_with_their_files(studio_api, team, owner):
    client = GMIClient.from_settings()
    done = client.submit(VideoParameters(prompt="Made with curl", aspect_ratio="1:1"))
    wait_for(lambda: client.get_request(done.request_id).status.is_final, message="the outside request to finish")
    studio_api.configure(stuck_rate=1.0)
    running = client.submit(VideoParameters(prompt="Still running", duration="10"))

    assert run_import(team, owner).startswith("Imported 2 of 2")
    finished = Generation.objects.get(request_id=done.request_id)
    assert finished.team == team and finished.created_by == owner
    assert finished.status == Generation.Status.SUCCESS
    assert finished.aspect_ratio == "1:1" and finished.prompt == "Made with curl"
    assert finished.video and finished.video.size > 1000
    in_progress = Generation.objects.get(request_id=running.request_id)
    assert in_progress.duration == "10"
    assert in_progress.is_in_progress  # followed like any other: due for the next tick
    assert Generation.objects.due_for_refresh(timezone.now()).filter(pk=in_progress.pk).exists()

    assert run_import(team, owner).startswith("Imported 0 of 2")
    assert Generation.objects.count() == 2


def test_it_skips_requests_the_studio_made_itself(studio_api, team, owner):
    remote = GMIClient.from_settings().submit(VideoParameters(prompt="From the studio"))
    make_generation(
        owner, team, prompt="From the studio", request_id=remote.request_id, status=Generation.Status.QUEUED
    )
    assert run_import(team, owner).startswith("Imported 0 of 1")


def test_it_refuses_a_creator_outside_the_team(studio_api, team, django_user_model):
    stranger = django_user_model.objects.create_user("stranger")
    with pytest.raises(CommandError, match="not a member"):
        run_import(team, stranger)


@pytest.fixture
def admin_client_logged_in(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.com", "a long enough password")
    client.force_login(admin)
    return client


def test_the_admin_lists_and_searches_generations(admin_client_logged_in, owner, team):
    make_generation(owner, team, prompt="An admin can find this", request_id="req-admin")
    changelist = admin_client_logged_in.get(reverse("admin:generations_generation_changelist"), {"q": "req-admin"})
    assert changelist.status_code == 200
    assert "An admin can find this" in changelist.content.decode()
    generation = Generation.objects.get()
    change = admin_client_logged_in.get(reverse("admin:generations_generation_change", args=[generation.pk]))
    assert change.status_code == 200
    for filtered in [{"status__exact": "pending"}, {"aspect_ratio__exact": "16:9"}, {"team__id__exact": team.pk}]:
        assert (
            admin_client_logged_in.get(reverse("admin:generations_generation_changelist"), filtered).status_code == 200
        )


def test_a_request_with_parameters_the_studio_cannot_show_is_skipped_not_imported(team, owner, certificate, settings):
    shapes = [{"aspect_ratio": "2:1", "duration": "5"}, {"aspect_ratio": "1:1", "duration": "15"}]
    listed = [
        {"request_id": f"odd-{n}", "status": "queued", "model": MODEL_ID, "payload": {"prompt": "odd", **shape}}
        for n, shape in enumerate(shapes)
    ]
    service = StubServer(tls=certificate[:2])
    service.body = json.dumps({"requests": listed}).encode()
    settings.GMI_API_BASE_URL, settings.GMI_API_KEY = service.url, "key"
    settings.GMI_CA_BUNDLE = str(certificate[2])
    try:
        errors = io.StringIO()
        call_command("import_requests", team=str(team.pk), user=owner.username, stdout=io.StringIO(), stderr=errors)
    finally:
        service.close()
    assert not Generation.objects.exists()
    assert "Skipped request odd-0" in errors.getvalue() and "aspect ratio" in errors.getvalue()
    assert "Skipped request odd-1" in errors.getvalue() and "duration" in errors.getvalue()
