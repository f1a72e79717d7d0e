"""Tasks move into projects: each existing task into its person's personal project.

One UPDATE for the whole table (the personal project found through its unique index on the
owner), before the new indexes exist, so the move does not maintain them row by row; then
the column becomes NOT NULL and the indexes are built once. BENCHMARKS.md gives the time
on 1,000,000 tasks on PostgreSQL.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def into_personal_projects(apps, schema_editor):
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    tasks = quote(apps.get_model("tasks", "Task")._meta.db_table)
    projects = quote(apps.get_model("projects", "Project")._meta.db_table)
    # Identifiers come from the models; values are bound parameters.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {tasks} SET project_id = (SELECT p.id FROM {projects} p "  # noqa: S608
            f"WHERE p.owner_id = {tasks}.person_id AND p.personal = %s) WHERE project_id IS NULL",
            [True],
        )


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_personal_projects"),
        ("tasks", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="task",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tasks",
                to="projects.project",
            ),
        ),
        migrations.AddField(
            model_name="task",
            name="recurrence",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="task",
            name="last_completed",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(into_personal_projects, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="task",
            name="project",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tasks",
                to="projects.project",
            ),
        ),
        migrations.RemoveIndex(model_name="task", name="task_person_id_idx"),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["project", "due_to", "id"], name="task_project_due_idx"),
        ),
        migrations.AddIndex(
            model_name="task",
            index=models.Index(fields=["project", "id"], name="task_project_id_idx"),
        ),
    ]
