from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from generations import billing, estimates, live
from generations.models import Generation

register = template.Library()

RATIO_SLUGS = {"16:9": "landscape", "9:16": "portrait", "1:1": "square"}


@register.filter
def ratio_slug(aspect_ratio: str) -> str:
    return RATIO_SLUGS.get(str(aspect_ratio), "landscape")


@register.filter
def live_event(generation_id: int) -> str:
    """The server-sent event that tells a card its generation changed."""
    return live.event_name(generation_id)


@register.filter
def elapsed(generation: Generation) -> str:
    return duration_words(generation.elapsed())


@register.filter
def duration_words(span: timedelta | None) -> str:
    if span is None:
        return ""
    seconds = int(span.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def ago(moment: datetime | None) -> str:
    """How long ago, in words: "just now" under a minute (never "0 minutes ago")."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):  # a clock a little ahead counts too
        return "just now"
    return f"{timesince(moment)} ago"


@register.filter
def money(amount) -> str:
    """An amount in the operator's currency: "$0.30"."""
    return "" if amount in (None, "") else billing.money(amount)


@register.simple_tag(takes_context=True)
def estimate(context, generation: Generation) -> str:
    """An in-progress card's estimate from its team's recent generations of the same duration,
    or "" when the team has too few (the page's first card looks them up; the rest reuse it)."""
    request = context.get("request")
    if request is None or not generation.is_in_progress:
        return ""
    typical = estimates.for_request(request, generation.duration)
    if typical is None:
        return ""
    if typical.is_overdue(generation):
        return f"{typical.words}; this one is taking longer"
    return typical.words
