"""The search index: each team's prompts by their trigrams, for finding a rare word fast.

It answers one question, "which of this team's generations may contain these words?", in
time that follows the number of matches, not the size of the team (`generations.search`
asks it, and rechecks every row it names). The team is a key of the index itself, so a
word common in other teams costs nothing in a team that never uses it.

* SQLite: `generation_search`, an FTS5 table with the trigram tokenizer (substrings of 3 or
  more characters, any case), contentless (it keeps only the index), holding the prompt, a
  space and the negative prompt. Its rowid is the team id and the generation id in one
  number (team << 40 | id), so each team's entries lie together in every list the index
  keeps, and a search reads only its own team's stretch of them. Triggers on the
  generation table keep it in step on every INSERT, DELETE and UPDATE of those columns,
  whoever makes them (the ORM, a bulk update, the admin, a migration). SQLite drops a
  table's triggers with the table, and Django rebuilds a table that way for some schema
  changes, so after every `migrate` the triggers are checked and, if missing, put back and
  the index rebuilt (`repair`).
* PostgreSQL: one GIN index over (ARRAY[team_id], UPPER(prompt || ' ' || negative_prompt))
  with pg_trgm's trigram operator class: the team's entries and the word's are intersected
  inside the index. The planner judges a word by its frequency in all teams, and for one
  that other teams use often would rather read the whole table; the question is only asked
  when the word is rare in this team, so `generation_search_candidates()`, a SQL function
  run with sequential scans off (for its own query only), makes the index answer.

The migration that creates both (0005) calls `install` and `uninstall` here: change the
statements only together with a new migration.
"""

from __future__ import annotations

from django.db.backends.base.base import BaseDatabaseWrapper

FTS_TABLE = "generation_search"
GENERATIONS = "generations_generation"
PG_INDEX = "generation_search_trgm"

# The rowid: team << 40 | id, for team ids below 2**23 and generation ids below 2**40 (a
# trillion). Rows past those are left out, and the search walks instead of asking.
ID_BITS = 40
TEAM_LIMIT, ID_LIMIT = 2**23, 2**ID_BITS


def _entry(row: str, source: str = "") -> str:
    """SELECT's body for the rowid and text the index holds for a row (NEW or OLD in a
    trigger, or an alias in `source`), when it holds one."""
    return (
        f"({row}.team_id << {ID_BITS}) | {row}.id, {row}.prompt || ' ' || {row}.negative_prompt {source} "
        f"WHERE {row}.team_id < {TEAM_LIMIT} AND {row}.id < {ID_LIMIT}"
    )


SQLITE_TABLE = f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(body, content='', tokenize='trigram')"

# A contentless FTS5 table forgets a row when told its exact old values ('delete').
_FORGET_OLD = f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, body) SELECT 'delete', {_entry('old')};"
_ADD_NEW = f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT {_entry('new')};"
SQLITE_TRIGGERS = {
    "generation_search_insert": f"AFTER INSERT ON {GENERATIONS} BEGIN {_ADD_NEW} END",
    "generation_search_delete": f"AFTER DELETE ON {GENERATIONS} BEGIN {_FORGET_OLD} END",
    "generation_search_update": (
        f"AFTER UPDATE OF id, team_id, prompt, negative_prompt ON {GENERATIONS} "
        "WHEN old.id IS NOT new.id OR old.team_id IS NOT new.team_id "
        "OR old.prompt IS NOT new.prompt OR old.negative_prompt IS NOT new.negative_prompt "
        f"BEGIN {_FORGET_OLD} {_ADD_NEW} END"
    ),
}

PG_TEXT = "UPPER(prompt || ' ' || negative_prompt)"
PG_CREATE_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON {GENERATIONS} USING gin ((ARRAY[team_id]), ({PG_TEXT}) gin_trgm_ops)"
)
PG_FUNCTION = "generation_search_candidates"
# Ids of generations of team $1 whose text is LIKE every pattern in $2 (the first one, the
# longest word, through the index), at most $3 of them.
PG_CANDIDATES = (
    f"SELECT id FROM {GENERATIONS} WHERE ARRAY[team_id] @> ARRAY[$1::bigint] AND {PG_TEXT} LIKE UPPER($2[1]) "
    f"AND {PG_TEXT} LIKE ALL (SELECT UPPER(pattern) FROM unnest($2) pattern) LIMIT $3"
)
PG_CREATE_FUNCTION = (
    f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}(bigint, text[], integer) RETURNS SETOF bigint "
    f"LANGUAGE sql STABLE SET enable_seqscan = off AS $body$ {PG_CANDIDATES} $body$"
)


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the index and fill it from the generations there are."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(SQLITE_TABLE)
            _create_triggers(cursor)
            _fill(cursor)
        elif connection.vendor == "postgresql":
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")  # trusted: a database owner may
            cursor.execute(PG_CREATE_INDEX)
            cursor.execute(PG_CREATE_FUNCTION)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}(bigint, text[], integer)")
            cursor.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")


def repair(connection: BaseDatabaseWrapper) -> bool:
    """On SQLite, put back triggers a table rebuild dropped, and rebuild the index (its
    rows may have changed meanwhile). Returns whether anything was missing."""
    if connection.vendor != "sqlite":
        return False
    with connection.cursor() as cursor:
        names = [FTS_TABLE, *SQLITE_TRIGGERS]
        cursor.execute(f"SELECT name FROM sqlite_master WHERE name IN ({', '.join(['%s'] * len(names))})", names)
        present = {name for (name,) in cursor.fetchall()}
        if FTS_TABLE not in present or present >= set(SQLITE_TRIGGERS):
            return False  # not installed (migrated back before it), or whole
        for name in SQLITE_TRIGGERS:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        _create_triggers(cursor)
        cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('delete-all')")
        _fill(cursor)
    return True


def repair_after_migrate(sender, using: str, **kwargs) -> None:
    """post_migrate receiver (see GenerationsConfig.ready)."""
    from django.db import connections

    repair(connections[using])


def _create_triggers(cursor) -> None:
    for name, body in SQLITE_TRIGGERS.items():
        cursor.execute(f"CREATE TRIGGER {name} {body}")


def _fill(cursor) -> None:
    # In rowid order: FTS5 starts a new segment whenever the rowid steps back.
    entries = _entry("g", source=f"FROM {GENERATIONS} g")
    cursor.execute(f"INSERT INTO {FTS_TABLE}(rowid, body) SELECT {entries} ORDER BY g.team_id, g.id")
    cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')")  # one b-tree per trigram
