"""The roles users are given, as Django groups (centre/people/access.py ROLES)."""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

ROLES = ("nurse", "team_lead", "technician", "administrator")


def make_roles(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    group = apps.get_model("auth", "Group")
    for role in ROLES:
        group.objects.using(schema_editor.connection.alias).get_or_create(name=role)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("people", "0003_team_members"),
    ]

    operations = [migrations.RunPython(make_roles, migrations.RunPython.noop)]
