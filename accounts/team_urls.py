"""The team pages, mounted at /teams/ by the project's URLs."""

from django.urls import path

from accounts import views

app_name = "teams"

urlpatterns = [
    path("", views.team_detail, name="detail"),
    path("switch/", views.switch, name="switch"),
    # Tokens are URL-safe base64 (letters, digits, - and _): anything else, a NUL byte say, is no page.
    path("join/<slug:token>/", views.join, name="join"),
    path("<int:team_id>/rename/", views.rename, name="rename"),
    path("<int:team_id>/leave/", views.leave, name="leave"),
    path("<int:team_id>/invites/", views.create_invite, name="create_invite"),
    path("<int:team_id>/invites/email/", views.email_invite, name="email_invite"),
    path("<int:team_id>/invites/<int:invite_id>/revoke/", views.revoke_invite, name="revoke_invite"),
    path("<int:team_id>/members/<int:membership_id>/remove/", views.remove_member, name="remove_member"),
]
