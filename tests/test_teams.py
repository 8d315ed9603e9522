"""Teams: the team page, invite links, joining, switching, removing and leaving, the admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invite, Membership, Team
from tests.factories import make_generation
from tests.people import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(team, owner) -> Invite:
    return team.create_invite(created_by=owner)


def personal_team(user) -> Team:
    return Team.objects.get(memberships__user=user, name=f"{user.get_username()}'s team")


def switch(client, team: Team, next_url: str = ""):
    return client.post(reverse("teams:switch"), {"team": team.pk, "next": next_url})


# A new account


def test_it_gives_a_new_account_its_own_team_which_it_owns(client):
    response = client.post(
        reverse("signup"),
        {
            "username": "grace",
            "email": "grace@example.com",
            "password1": "correct horse battery",
            "password2": "correct horse battery",
        },
    )
    assert response.status_code == 302
    team = Team.objects.get(memberships__user__username="grace")
    assert team.name == "grace's team"
    assert team.memberships.get().role == Membership.Role.OWNER
    assert "<h1>grace&#x27;s team</h1>" in client.get(reverse("teams:detail")).content.decode()


def test_it_sends_a_new_account_on_to_a_safe_next_page(client, invite):
    join_url = reverse("teams:join", args=[invite.token])
    signup_page = client.get(reverse("signup"), {"next": join_url}).content.decode()
    assert f'name="next" value="{join_url}"' in signup_page
    fields = {
        "username": "grace",
        "email": "grace@example.com",
        "password1": "correct horse battery",
        "password2": "correct horse battery",
    }
    response = client.post(reverse("signup"), {**fields, "next": join_url})
    assert response["Location"] == join_url


def test_it_ignores_a_next_page_on_another_site_after_signing_up(client):
    fields = {
        "username": "grace",
        "email": "grace@example.com",
        "password1": "correct horse battery",
        "password2": "correct horse battery",
    }
    response = client.post(reverse("signup"), {**fields, "next": "https://evil.example/"})
    assert response["Location"] == reverse("generations:create")


# The team page


def test_it_shows_the_team_its_members_their_roles_and_when_they_joined(client, owner, team, teammate):
    client.force_login(owner)
    response = client.get(reverse("teams:detail"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Harbour Films</h1>" in html
    assert "olivia" in html and "tomas" in html
    assert "<td>Owner</td>" in html and "<td>Member</td>" in html
    joined = Membership.objects.get(user=teammate, team=team).created_at
    assert f'<time datetime="{joined.isoformat()}">' in html


def test_it_needs_a_login_for_every_team_page(client, team, invite):
    membership = team.memberships.get()
    for method, url in [
        ("get", reverse("teams:detail")),
        ("post", reverse("teams:switch")),
        ("post", reverse("teams:rename", args=[team.pk])),
        ("post", reverse("teams:leave", args=[team.pk])),
        ("post", reverse("teams:create_invite", args=[team.pk])),
        ("post", reverse("teams:revoke_invite", args=[team.pk, invite.pk])),
        ("get", reverse("teams:remove_member", args=[team.pk, membership.pk])),
        ("post", reverse("teams:remove_member", args=[team.pk, membership.pk])),
    ]:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_it_lets_the_owner_rename_the_team(client, owner, team):
    client.force_login(owner)
    response = client.post(reverse("teams:rename", args=[team.pk]), {"name": "Lighthouse Studio"})
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "Lighthouse Studio"


def test_it_explains_a_blank_team_name_and_keeps_the_old_one(client, owner, team):
    client.force_login(owner)
    response = client.post(reverse("teams:rename", args=[team.pk]), {"name": "  "})
    assert response.status_code == 200
    assert "A team needs a name." in response.content.decode()
    team.refresh_from_db()
    assert team.name == "Harbour Films"


def test_it_shows_owner_controls_only_to_owners(client, owner, teammate, team, invite):
    client.force_login(teammate)
    switch(client, team)
    html = client.get(reverse("teams:detail")).content.decode()
    assert "<h1>Harbour Films</h1>" in html
    assert "Create invite link" not in html and "Rename" not in html and "Remove" not in html
    assert invite.token not in html
    client.force_login(owner)
    html = client.get(reverse("teams:detail")).content.decode()
    assert "Create invite link" in html and "Rename" in html and "Remove" in html


# Invites


def test_it_lets_the_owner_create_an_invite_link_and_shows_its_absolute_url(client, owner, team):
    client.force_login(owner)
    response = client.post(reverse("teams:create_invite", args=[team.pk]))
    invite = team.invites.get()
    assert response["Location"] == reverse("teams:detail") + f"#invite-{invite.pk}"
    assert invite.created_by == owner
    html = client.get(reverse("teams:detail")).content.decode()
    assert f'value="http://testserver/teams/join/{invite.token}/"' in html
    assert f'data-copy="invite-url-{invite.pk}"' in html
    assert "teams.js" in html


def test_it_lets_the_owner_revoke_an_invite(client, owner, team, invite):
    client.force_login(owner)
    response = client.post(reverse("teams:revoke_invite", args=[team.pk, invite.pk]))
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    assert invite.token not in client.get(reverse("teams:detail")).content.decode()


def test_it_shows_a_logged_out_person_the_team_and_sends_them_to_log_in_and_back(client, invite):
    join_url = reverse("teams:join", args=[invite.token])
    response = client.get(join_url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Join Harbour Films?</h1>" in html
    assert "olivia invited you to Harbour Films" in html
    assert f'href="{reverse("signup")}?next={join_url}"' in html  # signs up first
    assert f'href="{reverse("login")}?next={join_url}"' in html
    assert '<form method="post"' not in html.split("<main", 1)[1].split("</main>", 1)[0]  # no join button yet
    response = client.post(join_url)  # a POST without a log-in joins nobody
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={join_url}"
    login_page = client.get(response["Location"]).content.decode()
    assert f'href="{reverse("signup")}?next={join_url}"' in login_page  # or signs up first
    response = client.post(reverse("login"), {"username": "olivia", "password": PASSWORD, "next": join_url})
    assert response["Location"] == join_url


def test_it_asks_before_joining_and_joins_only_on_a_post(client, outsider, team, invite):
    client.force_login(outsider)
    join_url = reverse("teams:join", args=[invite.token])
    response = client.get(join_url)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Join Harbour Films?</h1>" in html
    assert f'<form method="post" action="{join_url}">' in html
    assert not team.has_member(outsider)  # opening the link joins nobody

    response = client.post(join_url)
    assert response.status_code == 302
    assert response["Location"] == reverse("generations:create")
    assert team.memberships.get(user=outsider).role == Membership.Role.MEMBER
    assert "<h1>Harbour Films</h1>" in client.get(reverse("teams:detail")).content.decode()  # now the current team


def test_it_refuses_a_join_without_the_csrf_token(outsider, team, invite):
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)
    assert client.post(reverse("teams:join", args=[invite.token])).status_code == 403
    assert not team.has_member(outsider)


def test_it_joins_a_member_again_without_a_second_membership(client, teammate, team, invite):
    client.force_login(teammate)
    join_url = reverse("teams:join", args=[invite.token])
    assert "You are already in Harbour Films" in client.get(join_url).content.decode()
    assert client.post(join_url).status_code == 302
    assert team.memberships.filter(user=teammate).count() == 1
    assert "<h1>Harbour Films</h1>" in client.get(reverse("teams:detail")).content.decode()


@pytest.mark.parametrize("state", ["revoked", "expired", "unknown"])
def test_it_answers_404_in_words_for_an_unusable_invite(client, outsider, team, invite, state):
    token = invite.token
    if state == "revoked":
        invite.revoke()
    elif state == "expired":
        Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    else:
        token = "no-such-token"
    client.force_login(outsider)
    for method in (client.get, client.post):
        response = method(reverse("teams:join", args=[token]))
        assert response.status_code == 404
        assert "This invite link does not work" in response.content.decode()
    assert not team.has_member(outsider)


def test_it_forbids_a_member_who_is_not_an_owner_to_invite_revoke_or_rename(client, teammate, team, invite):
    client.force_login(teammate)
    assert client.post(reverse("teams:create_invite", args=[team.pk])).status_code == 403
    assert client.post(reverse("teams:revoke_invite", args=[team.pk, invite.pk])).status_code == 403
    assert client.post(reverse("teams:rename", args=[team.pk]), {"name": "Mine now"}).status_code == 403
    team.refresh_from_db()
    invite.refresh_from_db()
    assert team.name == "Harbour Films" and team.invites.count() == 1 and invite.revoked_at is None


def test_it_answers_404_to_an_outsider_who_invites_revokes_or_renames(client, outsider, team, invite):
    client.force_login(outsider)
    assert client.post(reverse("teams:create_invite", args=[team.pk])).status_code == 404
    assert client.post(reverse("teams:revoke_invite", args=[team.pk, invite.pk])).status_code == 404
    assert client.post(reverse("teams:rename", args=[team.pk]), {"name": "Mine now"}).status_code == 404
    team.refresh_from_db()
    invite.refresh_from_db()
    assert team.name == "Harbour Films" and team.invites.count() == 1 and invite.revoked_at is None


def test_it_answers_404_to_an_owner_revoking_another_teams_invite(client, outsider, invite):
    client.force_login(outsider)
    own_team = personal_team(outsider)
    assert client.post(reverse("teams:revoke_invite", args=[own_team.pk, invite.pk])).status_code == 404
    invite.refresh_from_db()
    assert invite.revoked_at is None


# Switching


def test_it_switches_the_current_team_and_goes_back(client, teammate, team):
    client.force_login(teammate)
    own = personal_team(teammate)
    switch(client, own)
    assert "<h1>tomas&#x27;s team</h1>" in client.get(reverse("teams:detail")).content.decode()

    response = switch(client, team, next_url=reverse("teams:detail"))
    assert response["Location"] == reverse("teams:detail")
    html = client.get(reverse("teams:detail")).content.decode()
    assert "<h1>Harbour Films</h1>" in html
    assert f'<option value="{team.pk}" selected>Harbour Films</option>' in html
    assert f'<option value="{own.pk}">tomas&#x27;s team</option>' in html


def test_the_switcher_is_in_the_nav_with_a_link_to_the_team_page(client, teammate, team):
    client.force_login(teammate)
    html = client.get(reverse("generations:create")).content.decode()
    assert f'<form method="post" action="{reverse("teams:switch")}" class="team-switcher">' in html
    assert '<select name="team" aria-label="Team">' in html
    assert f'<a href="{reverse("teams:detail")}">Team</a>' in html


def test_it_switches_from_a_page_about_one_thing_to_the_studio(client, teammate, team):
    generation = make_generation(teammate, prompt="Waves at dusk")
    client.force_login(teammate)
    html = client.get(reverse("generations:detail", args=[generation.pk])).content.decode()
    assert '<input type="hidden" name="next" value="">' in html  # the generation is not in the other team
    assert switch(client, team, next_url="")["Location"] == reverse("generations:create")


def test_it_never_switches_back_to_another_site(client, teammate, team):
    client.force_login(teammate)
    response = switch(client, team, next_url="https://evil.example/")
    assert response["Location"] == reverse("generations:create")


def test_it_answers_404_for_switching_to_a_team_you_are_not_in(client, outsider, team):
    client.force_login(outsider)
    assert switch(client, team).status_code == 404
    assert client.post(reverse("teams:switch"), {"team": "not a number"}).status_code == 404
    assert "Harbour Films" not in client.get(reverse("teams:detail")).content.decode()


# Removing and leaving


def test_it_asks_the_owner_to_confirm_a_removal(client, owner, teammate, team):
    membership = team.memberships.get(user=teammate)
    client.force_login(owner)
    html = client.get(reverse("teams:remove_member", args=[team.pk, membership.pk])).content.decode()
    assert "<h1>Remove tomas from Harbour Films?</h1>" in html
    assert team.has_member(teammate)


def test_it_removes_a_member_who_loses_the_team_at_once(client, owner, teammate, team):
    membership = team.memberships.get(user=teammate)
    teammate_client = Client()
    teammate_client.force_login(teammate)
    switch(teammate_client, team)
    assert "<h1>Harbour Films</h1>" in teammate_client.get(reverse("teams:detail")).content.decode()

    client.force_login(owner)
    response = client.post(reverse("teams:remove_member", args=[team.pk, membership.pk]))
    assert response.status_code == 302
    assert not team.has_member(teammate)

    html = teammate_client.get(reverse("teams:detail")).content.decode()
    assert "<h1>tomas&#x27;s team</h1>" in html  # the session falls back to another team
    assert "Harbour Films" not in html
    assert switch(teammate_client, team).status_code == 404


def test_it_forbids_a_member_who_is_not_an_owner_to_remove_anyone(client, owner, teammate, team):
    owner_membership = team.memberships.get(user=owner)
    client.force_login(teammate)
    url = reverse("teams:remove_member", args=[team.pk, owner_membership.pk])
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert team.has_member(owner)


def test_it_answers_404_to_an_outsider_removing_a_member(client, outsider, teammate, team):
    membership = team.memberships.get(user=teammate)
    client.force_login(outsider)
    url = reverse("teams:remove_member", args=[team.pk, membership.pk])
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
    assert team.has_member(teammate)


def test_it_answers_404_to_an_owner_removing_a_member_of_another_team(client, outsider, teammate, team):
    membership = team.memberships.get(user=teammate)
    client.force_login(outsider)
    url = reverse("teams:remove_member", args=[personal_team(outsider).pk, membership.pk])
    assert client.post(url).status_code == 404
    assert team.has_member(teammate)


def test_it_never_removes_the_last_owner(client, owner, team):
    membership = team.memberships.get(user=owner)
    client.force_login(owner)
    url = reverse("teams:remove_member", args=[team.pk, membership.pk])
    assert "olivia is the only owner of Harbour Films" in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert "olivia is the only owner of Harbour Films; a team needs an owner." in response.content.decode()
    assert team.is_owner(owner)


def test_it_removes_an_owner_while_another_owner_remains(client, owner, teammate, team):
    team.memberships.filter(user=teammate).update(role=Membership.Role.OWNER)
    client.force_login(teammate)
    client.post(reverse("teams:remove_member", args=[team.pk, team.memberships.get(user=owner).pk]))
    assert not team.has_member(owner)


def test_it_lets_a_member_leave_a_team(client, teammate, team):
    client.force_login(teammate)
    switch(client, team)
    assert "Leave team" in client.get(reverse("teams:detail")).content.decode()
    response = client.post(reverse("teams:leave", args=[team.pk]))
    assert response.status_code == 302
    assert not team.has_member(teammate)
    assert "<h1>tomas&#x27;s team</h1>" in client.get(reverse("teams:detail")).content.decode()


def test_it_keeps_a_person_in_their_only_team(client, outsider):
    own = personal_team(outsider)
    client.force_login(outsider)
    assert "is your only team, so you cannot leave it." in client.get(reverse("teams:detail")).content.decode()
    response = client.post(reverse("teams:leave", args=[own.pk]), follow=True)
    assert "is your only team, so you cannot leave it." in response.content.decode()
    assert own.has_member(outsider)


def test_it_keeps_the_only_owner_in_their_team(client, owner, team, teammate):
    Membership.objects.create(team=personal_team(teammate), user=owner)  # owner has another team
    client.force_login(owner)
    response = client.post(reverse("teams:leave", args=[team.pk]), follow=True)
    assert "You are the only owner of Harbour Films; a team needs an owner." in response.content.decode()
    assert team.is_owner(owner)


def test_it_answers_404_to_an_outsider_leaving_a_team(client, outsider, team):
    client.force_login(outsider)
    assert client.post(reverse("teams:leave", args=[team.pk])).status_code == 404


# The admin


def test_the_admin_lists_teams_memberships_and_invites(client, django_user_model, team, teammate, invite):
    admin = django_user_model.objects.create_superuser("admin", password=PASSWORD)
    client.force_login(admin)
    for model in ["team", "membership", "invite"]:
        changelist = reverse(f"admin:accounts_{model}_changelist")
        assert client.get(changelist).status_code == 200, model
        assert client.get(changelist, {"q": "teammate"}).status_code == 200, model
    html = client.get(reverse("admin:accounts_team_changelist")).content.decode()
    assert '<td class="field-member_count">2</td>' in html
    assert client.get(reverse("admin:accounts_team_change", args=[team.pk])).status_code == 200
    assert client.get(reverse("admin:accounts_invite_changelist"), {"usable": "yes"}).status_code == 200
