"""tasks_stored_text() (0004) is STABLE, as its body is: a timestamp's text follows the session's
DateStyle. Declared IMMUTABLE, PostgreSQL would not inline a function whose body is less than
that, so each of the events trigger's four calls ran through the SQL function executor:
about 0.19 ms of the server's time per task written, while the changes feed's lock was held
(a create's throughput halved on two connections, BENCHMARKS.md). Inlined, the trigger costs
what the same expression costs in the read path's SELECT."""

from django.db import migrations


def _set_volatility(volatility: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":  # SQLite's triggers hold the text as stored
            schema_editor.execute(f"ALTER FUNCTION tasks_stored_text(timestamptz) {volatility}", params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("tasks", "0004_task_events")]

    operations = [migrations.RunPython(_set_volatility("STABLE"), _set_volatility("IMMUTABLE"))]
