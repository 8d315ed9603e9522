"""The people of the tests, one cast for every file.

Olivia owns Harbour Films; Tomas works in it beside her (and has a personal team of his
own); Oscar is in no team of theirs; Ada works alone. Each has an email address and the
same password, so any test can log any of them in.
"""

from __future__ import annotations

import pytest

from accounts.middleware import SESSION_KEY
from accounts.models import Membership, Team

PASSWORD = "a long enough password"


def log_in_working_in(client, user, team: Team):
    """`client` logged in as `user`, working in `team` (as if they had switched to it)."""
    client.force_login(user)
    session = client.session
    session[SESSION_KEY] = team.pk
    session.save()
    return client


def person(django_user_model, username: str):
    return django_user_model.objects.create_user(username, email=f"{username}@example.com", password=PASSWORD)


@pytest.fixture
def owner(django_user_model):
    return person(django_user_model, "olivia")


@pytest.fixture
def team(owner) -> Team:
    team = Team.objects.for_user(owner).get()
    team.name = "Harbour Films"
    team.save()
    return team


@pytest.fixture
def teammate(django_user_model, team):
    """In the owner's team, as a plain member, and in a personal team of their own."""
    user = person(django_user_model, "tomas")
    Membership.objects.create(team=team, user=user, role=Membership.Role.MEMBER)
    return user


@pytest.fixture
def outsider(django_user_model):
    return person(django_user_model, "oscar")


@pytest.fixture
def ada(django_user_model):
    return person(django_user_model, "ada")
