"""Every existing account gets its personal project, owned by it, in two statements.

Accounts made from now on get theirs with the account (projects.signals). Set-based SQL,
not a loop over users: a large table moves in seconds (see tasks/migrations/0002).
"""

from django.db import migrations
from django.utils import timezone


def personal_projects(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    users = quote(apps.get_model("users", "User")._meta.db_table)
    projects = quote(apps.get_model("projects", "Project")._meta.db_table)
    memberships = quote(apps.get_model("projects", "Membership")._meta.db_table)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Identifiers come from the models; values are bound parameters.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {projects} (name, owner_id, personal, created, updated) "  # noqa: S608
            f"SELECT %s, u.id, %s, %s, %s FROM {users} u WHERE NOT EXISTS "
            f"(SELECT 1 FROM {projects} p WHERE p.owner_id = u.id AND p.personal = %s) ORDER BY u.id",
            ["Personal", True, now, now, True],
        )
        cursor.execute(
            f"INSERT INTO {memberships} (project_id, user_id, role, created) "  # noqa: S608
            f"SELECT p.id, p.owner_id, %s, %s FROM {projects} p WHERE p.personal = %s AND NOT EXISTS "
            f"(SELECT 1 FROM {memberships} m WHERE m.project_id = p.id AND m.user_id = p.owner_id)",
            ["owner", now, True],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0001_initial"),
        ("users", "0001_initial"),
    ]

    operations = [migrations.RunPython(personal_projects, migrations.RunPython.noop, elidable=True)]
