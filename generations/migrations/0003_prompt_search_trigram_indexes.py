# Trigram indexes for the gallery's search, on PostgreSQL only.
#
# GenerationQuerySet.search() uses icontains, which Django compiles on PostgreSQL to
# UPPER("prompt"::text) LIKE UPPER(%s): a GIN trigram index on exactly that expression
# serves it, and both columns need one because the search ORs them. ANALYZE also gathers
# statistics on the indexed expressions, so the planner knows how common a word is.
# SQLite has no such index; there the search scans within the team's index range.
# The indexes are not in the model's Meta because a GIN index cannot be created on SQLite.

from django.db import migrations

INDEXES = {
    "generation_prompt_trgm": "prompt",
    "generation_negative_prompt_trgm": "negative_prompt",
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # pg_trgm is a trusted extension (PostgreSQL 13+): a database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "generations_generation" '
            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
        )


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The extension stays: other objects may use it, and dropping it needs more rights.
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):

    dependencies = [
        ('generations', '0002_teams_and_favourites'),
    ]

    operations = [
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes, elidable=False),
    ]
