from django.db import migrations, models


class Migration(migrations.Migration):
    """The fleet poller: the poll token becomes the hold of whoever works on the row (a
    tick or a store), ticks take first the rows asked about longest ago, and storing
    counts its attempts."""

    dependencies = [
        ("generations", "0003_prompt_search_trigram_indexes"),
    ]

    operations = [
        migrations.RenameField(model_name="generation", old_name="poll_token", new_name="lease_token"),
        migrations.AddField(
            model_name="generation",
            name="store_attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="generation",
            name="refreshed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
