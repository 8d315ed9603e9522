"""The world the no-server-error test sends its requests into: an owner and a teammate with a
generation in every status (some imported with values the form would refuse, one whose file
is gone), an outsider in a team of their own, invites usable and not, an administrator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import email_confirmation
from accounts.models import Invite, Membership, Team
from generations import billing
from generations.gallery import PAGE_SIZE, Cursor
from generations.models import Favourite, Generation, ShareLink
from tests import strategies as s
from tests.factories import make_generation
from tests.fuzz_endpoints import (
    PASSWORD,
)
from tests.people import log_in_working_in
from tests.strategies import Ref, Value

# The test data: an owner and a teammate with a generation in every status, an outsider, invites.


@dataclass
class World:
    values: dict[str, str]  # Ref name -> its value
    sessions: dict[str, str | None]  # persona -> session key

    def resolve(self, value: Value) -> str:
        return self.values[value.name] if isinstance(value, Ref) else value


def _finished(generation: Generation) -> Generation:
    generation.video.save("video.mp4", ContentFile(b"\x00\x00\x00\x18ftypmp42" + b"v" * 500), save=False)
    generation.thumbnail.save("thumbnail.jpg", ContentFile(b"\xff\xd8\xff" + b"t" * 100), save=False)
    generation.finished_at = timezone.now()
    generation.save()
    return generation


# As `import_requests` brings in what the service reports: parameters the form would refuse.
IMPORTED_ODD = {
    "status": Generation.Status.SUCCESS,
    "request_id": "req-imported-odd",
    "prompt": "a slow pan " * 300,
    "duration": "15",
    "cfg_scale": 1.5,
}


def build_world(django_user_model) -> World:
    owner = django_user_model.objects.create_user("olivia", email="olivia@example.com", password=PASSWORD)
    studio = Team.objects.for_user(owner).get()
    studio.name = "Harbour Films"
    studio.save()
    teammate = django_user_model.objects.create_user("tomas", password=PASSWORD)
    Membership.objects.create(team=studio, user=teammate)
    outsider = django_user_model.objects.create_user("oscar", password=PASSWORD)
    admin = django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    outsider_team = Team.objects.for_user(outsider).get()
    now = timezone.now()
    status = Generation.Status

    def made(user, team=studio, **fields) -> Generation:
        return make_generation(user, team, prompt=fields.pop("prompt", "A red fox in the snow"), **fields)

    generations = {
        "pending": made(owner),
        "submitting": made(owner, status=status.SUBMITTING, claimed_at=now, claim_expires_at=now),
        "queued": made(owner, status=status.QUEUED, request_id="req-queued", submitted_at=now),
        "processing": made(owner, status=status.PROCESSING, request_id="req-processing", processing_at=now),
        "success": _finished(made(owner, status=status.SUCCESS, request_id="req-success", duration="10")),
        "success_missing_files": made(
            owner, status=status.SUCCESS, video="generations/0/gone.mp4", thumbnail="generations/0/gone.jpg"
        ),
        "failed": made(owner, status=status.FAILED, failure_reason="The service said no.", finished_at=now),
        "cancelled": made(owner, status=status.CANCELLED, finished_at=now, aspect_ratio="1:1"),
        "by_teammate": _finished(
            made(teammate, status=status.SUCCESS, prompt="Ein Fuchs im Schnee 🦊", aspect_ratio="9:16")
        ),
        # Requests made outside the studio and imported as the service reports them: the
        # studio's form would refuse their parameters, the pages must still show them.
        "imported_2_1": _finished(
            made(owner, status=status.SUCCESS, request_id="req-imported-2-1", aspect_ratio="2:1")
        ),
        "imported_odd": _finished(made(teammate, **IMPORTED_ODD, created_at=now - timedelta(days=400))),
        "outsider": _finished(made(outsider, outsider_team, status=status.SUCCESS, prompt="Oscar's secret")),
    }
    # More than a page, some sharing a timestamp, so that cursors lead somewhere.
    Generation.objects.bulk_create(
        Generation(team=studio, created_by=teammate, prompt=f"clip {n}", created_at=now - timedelta(minutes=n // 3))
        for n in range(PAGE_SIZE + 4)
    )
    favourite = Favourite.objects.create(user=teammate, generation=generations["success"])
    Favourite.objects.create(user=owner, generation=generations["imported_odd"])
    invites = {
        "usable": studio.create_invite(created_by=owner),
        "revoked": studio.create_invite(created_by=owner),
        "expired": Invite.objects.create(team=studio, created_by=owner, expires_at=now - timedelta(days=1)),
        "outsider": outsider_team.create_invite(created_by=outsider),
    }
    invites["revoked"].revoke()
    shares = {
        "live": ShareLink.objects.start(generations["success"], owner),
        "revoked": ShareLink.objects.start(generations["by_teammate"], teammate),
        "outsider": ShareLink.objects.start(generations["outsider"], outsider),
    }
    ShareLink.objects.stop(generations["by_teammate"], owner)
    # Spending: the studio's on the usage page, and the outsider's budget used up (the form refuses).
    for name in ("success", "by_teammate", "outsider"):
        billing.charge(generations[name])
    outsider_team.monthly_budget = Decimal("0.10")
    outsider_team.save()
    memberships = {
        "owner": Membership.objects.get(team=studio, user=owner),
        "teammate": Membership.objects.get(team=studio, user=teammate),
        "outsider": Membership.objects.get(team=outsider_team, user=outsider),
        "teammate_own": Membership.objects.get(team__name="tomas's team", user=teammate),
    }
    users = {"owner": owner, "teammate": teammate, "outsider": outsider, "admin": admin}
    teams = {"studio": studio, "teammate_own": memberships["teammate_own"].team, "outsider": outsider_team}
    page_end = Generation.objects.for_team(studio).newest_first()[PAGE_SIZE - 1]
    values = {
        **{f"generation.{name}": str(g.pk) for name, g in generations.items()},
        **{f"user.{name}": str(user.pk) for name, user in users.items()},
        **{f"team.{name}": str(team.pk) for name, team in teams.items()},
        **{f"invite.{name}.id": str(invite.pk) for name, invite in invites.items()},
        **{f"invite.{name}.token": invite.token for name, invite in invites.items()},
        **{f"share.{name}.token": share.token for name, share in shares.items()},
        **{f"membership.{name}": str(membership.pk) for name, membership in memberships.items()},
        "favourite.teammate": str(favourite.pk),
        "username.owner": "olivia",
        "username.outsider": "oscar",
        "cursor.page_end": Cursor.after(page_end).encode(),
        "cursor.success": Cursor.after(generations["success"]).encode(),
        "cursor.outsider": Cursor.after(generations["outsider"]).encode(),
        "reset.uidb64": urlsafe_base64_encode(force_bytes(owner.pk)),
        "reset.token": default_token_generator.make_token(owner),
        "confirmation.token": email_confirmation.make_token(owner),
        **{
            f"contenttype.{name}": str(ContentType.objects.get_for_model(model).pk)
            for name, model in (("generation", Generation), ("team", Team), ("user", django_user_model))
        },
    }
    assert set(values) >= {*s.EVERY_ID, *s.INVITE_TOKENS, *s.SHARE_TOKENS, *s.CURSORS}
    sessions: dict[str, str | None] = {"anonymous": None}
    for persona, user in users.items():
        client = Client()
        client.force_login(user)
        if persona == "teammate":  # working in the studio's team, not their own
            log_in_working_in(client, user, studio)
        sessions[persona] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return World(values, sessions)
