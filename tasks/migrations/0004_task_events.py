"""The events of tasks (events/): every write to a task writes its event, by trigger.

Each INSERT, UPDATE and DELETE of a row of ``tasks_task`` writes one row of the events
outbox (``events_event``) in the same statement, so in the same transaction: a create stays
one statement (as the changes feed's triggers keep it, 0003_sync), and every write has its
event whatever makes it (services, the admin, QuerySet.update(), bulk_create(), the imports,
the cascades of a project's or an account's deletion). The event of a create or an update
holds the task's columns (tasks.reads.COLUMNS, instants as the database's stored text, as
tasks.reads.select() reads them), which tasks.apps turns into the task's JSON when it is
delivered; a deletion's holds the ids.

Rebuilding tasks_task on SQLite (Django does so for most field changes) drops these triggers
too, and a new column of the task JSON must be added here: tests/events/test_outbox.py
compares each delivery with the API's answer.
"""

# ruff: noqa: S608 - fixed statements, no values.
from django.db import migrations

# tasks.reads._stored_text() as a function: UTC text, the fraction padded to six digits.
POSTGRESQL = [
    """
    CREATE FUNCTION tasks_stored_text(instant timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN date_trunc('second', instant) = instant
            THEN (instant AT TIME ZONE 'UTC')::text
            ELSE rpad((instant AT TIME ZONE 'UTC')::text, 26, '0') END
    $$
    """,
    """
    CREATE FUNCTION tasks_task_event() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            INSERT INTO events_event (key, type, project_id, person_id, occurred, data, relayed)
            VALUES (gen_random_uuid(), 'task.deleted', OLD.project_id, OLD.person_id, now(),
                    jsonb_build_object('id', OLD.id, 'project_id', OLD.project_id, 'person_id', OLD.person_id),
                    false);
            RETURN NULL;
        END IF;
        INSERT INTO events_event (key, type, project_id, person_id, occurred, data, relayed)
        VALUES (gen_random_uuid(), CASE TG_OP WHEN 'INSERT' THEN 'task.created' ELSE 'task.updated' END,
                NEW.project_id, NEW.person_id, now(),
                jsonb_build_array(NEW.id, NEW.title, NEW.project_id, NEW.person_id,
                    tasks_stored_text(NEW.due_to), NEW.completed, NEW.recurrence,
                    tasks_stored_text(NEW.last_completed), tasks_stored_text(NEW.created),
                    tasks_stored_text(NEW.updated)),
                false);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_task_event AFTER INSERT OR UPDATE OR DELETE ON tasks_task
    FOR EACH ROW EXECUTE FUNCTION tasks_task_event()
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER tasks_task_event ON tasks_task",
    "DROP FUNCTION tasks_task_event()",
    "DROP FUNCTION tasks_stored_text(timestamptz)",
]

# SQLite stores an instant as the text tasks.reads.select() reads; a random key as
# Django's UUIDField stores one (32 hex digits).
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
SQLITE_KEY = "lower(hex(randomblob(16)))"
SQLITE_CELLS = (
    "json_array(NEW.id, NEW.title, NEW.project_id, NEW.person_id, NEW.due_to, NEW.completed, "
    "NEW.recurrence, NEW.last_completed, NEW.created, NEW.updated)"
)

SQLITE = [
    f"""
    CREATE TRIGGER tasks_task_event_inserted AFTER INSERT ON tasks_task BEGIN
        INSERT INTO events_event (key, type, project_id, person_id, occurred, data, relayed)
        VALUES ({SQLITE_KEY}, 'task.created', NEW.project_id, NEW.person_id, {SQLITE_NOW}, {SQLITE_CELLS}, 0);
    END
    """,
    # Every update but the changes feed's own, which numbers the row (0003_sync).
    f"""
    CREATE TRIGGER tasks_task_event_updated AFTER UPDATE ON tasks_task WHEN NEW.version = OLD.version BEGIN
        INSERT INTO events_event (key, type, project_id, person_id, occurred, data, relayed)
        VALUES ({SQLITE_KEY}, 'task.updated', NEW.project_id, NEW.person_id, {SQLITE_NOW}, {SQLITE_CELLS}, 0);
    END
    """,
    f"""
    CREATE TRIGGER tasks_task_event_deleted AFTER DELETE ON tasks_task BEGIN
        INSERT INTO events_event (key, type, project_id, person_id, occurred, data, relayed)
        VALUES ({SQLITE_KEY}, 'task.deleted', OLD.project_id, OLD.person_id, {SQLITE_NOW},
                json_object('id', OLD.id, 'project_id', OLD.project_id, 'person_id', OLD.person_id), 0);
    END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER tasks_task_event_deleted",
    "DROP TRIGGER tasks_task_event_updated",
    "DROP TRIGGER tasks_task_event_inserted",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"the events of tasks have no triggers for {vendor}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0003_sync"),
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
