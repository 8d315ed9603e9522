from django.db import migrations


def give_existing_accounts_a_team(apps, schema_editor):
    User = apps.get_model("auth", "User")
    Team = apps.get_model("accounts", "Team")
    Membership = apps.get_model("accounts", "Membership")
    for user in User.objects.filter(memberships__isnull=True):
        team = Team.objects.create(name=f"{user.username}'s team")
        Membership.objects.create(team=team, user=user, role="owner")


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]

    operations = [migrations.RunPython(give_existing_accounts_a_team, migrations.RunPython.noop)]
