"""The gallery's search, fast for common and rare words alike.

What a search finds is decided by `GenerationQuerySet.search`: every word, in any case,
inside the prompt or the negative prompt (a LIKE per word, the same on both databases).
This module finds the first page of that in the gallery's newest-first order. A search
index (`search_index`) names the team's generations that may contain the words, reading
only this team's entries, so a word other teams use all the time costs nothing here.

SQLite's index (FTS5) reads the team's stretch of its lists in order and stops at
CANDIDATES_CAP, so it is asked first: up to that many, only those rows are read (every
filter and word checked again); past it, the word is common here and a walk through the
team's newest rows finds a page soon. Two queries, or one and a quick look at the index.

PostgreSQL's index (GIN) cannot stop early: it collects every match before it answers,
which costs most for the most common words. So there the walk comes first:

1. Walk the newest RECENT_ROWS of the team's rows in view (after the page's cursor, within
   its dates) with every filter. A word in a few percent of prompts fills a page there,
   and the walk stops at the end of the page: one query.
2. If it did not, but the rows walked held matches at a rate that promises the rest within
   WALK_ROWS more rows, walk on.
3. Otherwise the words are rare in this team: ask the index, and read only the rows it
   names. Two more queries, whatever the words.

Either way the index is not used when it names more than CANDIDATES_CAP rows, or when no
word has three letters or digits in a row (it holds trigrams); the walk then goes on as
far as the page needs. Every step yields rows in the gallery's order, and together they
give exactly the page a plain walk through the team would.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from django.db import connection
from django.db.models import DateTimeField, F, Func, QuerySet, Subquery, TextField, Value
from django.db.models.functions import Coalesce

from generations.search_index import FTS_TABLE, GENERATIONS, ID_BITS, ID_LIMIT, PG_FUNCTION, TEAM_LIMIT

RECENT_ROWS = 1000
WALK_ROWS = 2000
CANDIDATES_CAP = 300

# pg_trgm takes trigrams from runs of letters and digits; a pattern without one would read
# the whole index. (FTS5's trigrams take any three characters; the same rule serves both.)
_INDEXABLE = re.compile(r"[^\W_]{3}")
_EARLIEST = Value(datetime(1, 1, 1, tzinfo=UTC), output_field=DateTimeField())


class PromptText(Func):
    """The prompt, a space, the negative prompt. A word never holds whitespace, so it is
    inside this exactly when it is inside one of the two: one LIKE instead of two."""

    template = "(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()

    def __init__(self):
        super().__init__(F("prompt"), F("negative_prompt"))


def first_matches(matches: QuerySet, *, scope: QuerySet, team_id: int, text: str, count: int) -> list:
    """The first `count` of `matches`, which are `scope` narrowed by the filters and the
    search for `text`, newest first. `scope` is the team's rows after the cursor and within
    the dates: a range of its newest-first index."""
    if connection.vendor == "sqlite":
        return list(_narrowed(matches, team_id, text)[:count])
    nth_newest = Subquery(scope.order_by("-created_at", "-pk").values("created_at")[RECENT_ROWS - 1 : RECENT_ROWS])
    rows = list(matches.filter(created_at__gte=Coalesce(nth_newest, _EARLIEST))[:count])
    if len(rows) == count:
        return rows
    older = matches.filter(created_at__lt=nth_newest)  # none when everything in view was recent
    if _beyond_walking(len(rows), count):
        older = _narrowed(older, team_id, text)
    return rows + list(older[: count - len(rows)])


def _narrowed(matches: QuerySet, team_id: int, text: str) -> QuerySet:
    """`matches`, limited to the rows the index names when it can name few enough."""
    ids = candidates(team_id, text.split(), cap=CANDIDATES_CAP)
    return matches if ids is None else matches.filter(pk__in=ids)


def _beyond_walking(found: int, wanted: int) -> bool:
    """Whether, at the rate matches came in the recent rows, the rest of the page lies
    further than WALK_ROWS more rows."""
    return not found or (wanted - found) * RECENT_ROWS / found > WALK_ROWS


def candidates(team_id: int, words: list[str], *, cap: int) -> list[int] | None:
    """Ids of the team's generations that may contain every word: all of those that do, and
    perhaps some that do not. None when the index cannot narrow it down to `cap`."""
    indexable = [word for word in words if _INDEXABLE.search(word)]
    if not indexable:
        return None
    if connection.vendor == "sqlite":
        ids = _sqlite_candidates(team_id, indexable, cap + 1)
    elif connection.vendor == "postgresql":
        ids = _postgres_candidates(team_id, indexable, cap + 1)
    else:
        ids = None
    return ids if ids is not None and len(ids) <= cap else None


def _sqlite_candidates(team_id: int, words: list[str], limit: int) -> list[int] | None:
    # The team's stretch of rowids; a quoted string is a phrase of its trigrams: a substring.
    first = team_id << ID_BITS
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT max(id) FROM {GENERATIONS}")
        if team_id >= TEAM_LIMIT or (cursor.fetchone()[0] or 0) >= ID_LIMIT:
            return None  # rows the index leaves out (see search_index)
        cursor.execute(
            f"SELECT rowid - %s FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid BETWEEN %s AND %s LIMIT %s",
            [first, " AND ".join(_phrase(word) for word in words), first, first + ID_LIMIT - 1, limit],
        )
        return [pk for (pk,) in cursor.fetchall()]


def _phrase(text: str) -> str:
    """An FTS5 string, whatever it holds."""
    return '"' + text.replace('"', '""') + '"'


def _postgres_candidates(team_id: int, words: list[str], limit: int) -> list[int]:
    patterns = [f"%{connection.ops.prep_for_like_query(word)}%" for word in sorted(words, key=len, reverse=True)]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {PG_FUNCTION}(%s, %s, %s)", [team_id, patterns, limit])
        return [pk for (pk,) in cursor.fetchall()]
