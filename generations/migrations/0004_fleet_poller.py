from django.db import migrations, models


class Migration(migrations.Migration):
    """The fleet poller: the poll token becomes the hold of whoever works on the row (a
    tick or a store), and storing counts its attempts."""

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
    ]
