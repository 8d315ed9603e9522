"""Which card a generation is drawn as: on the studio's list, the detail page or the gallery.

A request that answers with a card (a live update, a cancel) says which with `?on=`.
"""

from __future__ import annotations

from django.http import HttpRequest

CARD_TEMPLATES = {
    "studio": "generations/partials/generation_card.html",
    "detail": "generations/partials/generation_card.html",
    "gallery": "generations/partials/gallery_card.html",
}


def card_kind(request: HttpRequest) -> str:
    """Which page a card is drawn for: the studio's list (default), the detail page or the gallery."""
    kind = request.GET.get("on", "studio")
    return kind if kind in CARD_TEMPLATES else "studio"


def card_context(request: HttpRequest) -> dict:
    kind = card_kind(request)
    return {"card_template": CARD_TEMPLATES[kind], "on_detail": kind == "detail"}
