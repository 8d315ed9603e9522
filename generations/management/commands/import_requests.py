"""Bring requests made with the team's API key outside the studio into its gallery."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError, transaction

from accounts.models import Team
from generations.gmi import GMIClient, GMIError, RemoteStatus
from generations.models import Generation
from generations.rules import MODEL_ID, InvalidParameters
from generations.storing import store_files


class Command(BaseCommand):
    help = "Import the API key's requests (the list endpoint) into a team's gallery. Safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", required=True, help="the team's id or exact name")
        parser.add_argument("--user", required=True, help="the username recorded as their creator")
        parser.add_argument("--model", default=MODEL_ID, help=f"model id to list (default {MODEL_ID})")

    def handle(self, *args, team: str, user: str, model: str, **options) -> None:
        team_obj = self._team(team)
        try:
            creator = get_user_model().objects.get(username=user)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {user!r}") from None
        if not team_obj.has_member(creator):
            raise CommandError(f"{user} is not a member of {team_obj.name}")
        try:
            remotes = GMIClient.from_settings().list_requests(model)
        except GMIError as exc:
            raise CommandError(f"Could not list the requests: {exc}") from exc

        known = set(
            Generation.objects.filter(request_id__in=[r.request_id for r in remotes]).values_list(
                "request_id", flat=True
            )
        )
        imported = skipped = 0
        for remote in remotes:
            if remote.request_id in known:
                continue
            try:
                with transaction.atomic():
                    generation = Generation.objects.create_imported(remote, team=team_obj, created_by=creator)
            except IntegrityError:  # imported by a run beside this one
                continue
            except InvalidParameters as exc:
                self.stderr.write(f"Skipped request {remote.request_id}, which the studio could not show: {exc}")
                skipped += 1
                continue
            imported += 1
            # Unfinished ones are due at once: the next tick follows them like any other.
            if remote.status == RemoteStatus.SUCCESS and remote.outcome:
                store_files(generation.pk, generation.hold_for_store("", remote.outcome, {}) or "")
            elif remote.status == RemoteStatus.SUCCESS:
                generation.fail("The video service reported success but gave no video.")
        already = len(remotes) - imported - skipped
        self.stdout.write(
            f"Imported {imported} of {len(remotes)} requests; {already} were already here, {skipped} skipped."
        )

    def _team(self, value: str) -> Team:
        teams = Team.objects.filter(pk=int(value)) if value.isdigit() else Team.objects.filter(name=value)
        try:
            return teams.get()
        except (Team.DoesNotExist, Team.MultipleObjectsReturned):
            raise CommandError(f"No single team is called {value!r}") from None
