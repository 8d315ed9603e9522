# The search index (generations/search_index.py): on SQLite an FTS5 trigram table with the
# team as a column, kept in step by triggers; on PostgreSQL one GIN trigram index keyed by
# team over the prompt and the negative prompt together, which replaces the two of 0003
# (the search now compares one expression, which they do not serve).

from django.db import migrations

from generations import search_index

OLD_TRIGRAM_INDEXES = {
    "generation_prompt_trgm": "prompt",
    "generation_negative_prompt_trgm": "negative_prompt",
}


def install(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for name in OLD_TRIGRAM_INDEXES:
            schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    search_index.install(connection)


def uninstall(apps, schema_editor):
    connection = schema_editor.connection
    search_index.uninstall(connection)
    if connection.vendor == "postgresql":
        for name, column in OLD_TRIGRAM_INDEXES.items():
            schema_editor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "generations_generation" '
                f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)'
            )


class Migration(migrations.Migration):

    dependencies = [
        ("generations", "0004_fleet_poller"),
    ]

    operations = [
        migrations.RunPython(install, uninstall, elidable=False),
    ]
