from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import Invite, Membership, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]
    fields = ["user", "role", "created_at"]


class InviteInline(admin.TabularInline):
    model = Invite
    extra = 0
    fields = ["token", "created_by", "created_at", "expires_at", "revoked_at"]
    readonly_fields = ["token", "created_by", "created_at"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # invites are made on the team page, where the owner sees the link


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count", "created_at"]
    search_fields = ["name", "memberships__user__username"]
    date_hierarchy = "created_at"
    inlines = [MembershipInline, InviteInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_count=Count("memberships", distinct=True))

    @admin.display(description="Members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "created_at"]
    list_select_related = ["user", "team"]
    search_fields = ["user__username", "user__email", "team__name"]
    raw_id_fields = ["user", "team"]


class UsableFilter(admin.SimpleListFilter):
    title = "usable"
    parameter_name = "usable"

    def lookups(self, request, model_admin):
        return [("yes", "Usable"), ("no", "Expired or revoked")]

    def queryset(self, request, queryset):
        usable = Invite.objects.usable()
        if self.value() == "yes":
            return queryset.filter(pk__in=usable)
        if self.value() == "no":
            return queryset.exclude(pk__in=usable)
        return queryset


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    list_display = ["team", "created_by", "created_at", "expires_at", "revoked_at", "usable"]
    list_filter = [UsableFilter, "created_at", "expires_at"]
    list_select_related = ["team", "created_by"]
    search_fields = ["team__name", "created_by__username", "token"]
    raw_id_fields = ["team", "created_by"]
    readonly_fields = ["token"]
    actions = ["revoke"]

    @admin.display(boolean=True, description="Usable")
    def usable(self, invite: Invite) -> bool:
        return invite.is_usable

    @admin.action(description="Revoke the selected invites")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invite]) -> None:
        revoked = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {revoked} invite(s).")
