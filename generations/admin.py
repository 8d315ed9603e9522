from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from generations.models import Charge, Favourite, Generation, ShareLink


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ["id", "short_prompt", "status", "team", "created_by", "duration", "aspect_ratio", "created_at"]
    list_filter = ["status", "aspect_ratio", "duration", "team", "created_at"]
    search_fields = ["prompt", "negative_prompt", "request_id", "created_by__username", "team__name"]
    list_select_related = ["team", "created_by"]
    date_hierarchy = "created_at"
    raw_id_fields = ["team", "created_by"]
    readonly_fields = [
        "request_id", "remote_created_at", "remote_updated_at", "remote_queued_at", "video_url", "thumbnail_url",
        "claimed_at", "submitted_at", "processing_at", "finished_at", "claim_expires_at", "submit_attempts",
        "lease_token", "next_poll_at", "poll_count", "store_attempts",
    ]  # fmt: skip
    show_full_result_count = False  # counting a big table on every page is slow

    @admin.display(description="Prompt")
    def short_prompt(self, generation: Generation) -> str:
        return generation.prompt[:80]


@admin.register(Favourite)
class FavouriteAdmin(admin.ModelAdmin):
    list_display = ["generation", "user", "created_at"]
    raw_id_fields = ["generation", "user"]
    search_fields = ["user__username"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Favourite]:
        return super().get_queryset(request).select_related("generation", "user")


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ["generation", "created_by", "created_at", "revoked_by", "revoked_at"]
    list_filter = ["created_at", "revoked_at"]
    raw_id_fields = ["generation", "created_by", "revoked_by"]
    search_fields = ["created_by__username", "generation__prompt"]
    readonly_fields = ["token"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ShareLink]:
        return super().get_queryset(request).select_related("generation", "created_by", "revoked_by")


@admin.register(Charge)
class ChargeAdmin(admin.ModelAdmin):
    """What the team was charged: a record of the service's bills, read here, never edited."""

    list_display = ["created_at", "team", "created_by", "generation", "duration", "amount"]
    list_filter = ["created_at", "duration"]
    list_select_related = ["team", "created_by", "generation"]
    search_fields = ["team__name", "created_by__username"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
