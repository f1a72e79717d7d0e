"""The changes feed (GET /tasks/changes/, tasks/changes.py): every write is numbered by the database.

Tables: ``tasks_changeclock`` (one row: a bound on the numbers committed, and the pruning horizon),
``tasks_tombstone`` (a task that left a project: deleted, or moved) and ``tasks_accesschange``
(a user joined or left a project); and on ``tasks_task``, ``version`` (the number of the
task's last change, indexed with its project) and ``entered`` (the number at which it came
into its project: created or moved there). The model leaves both out: only the triggers
write them.

Triggers, not Python: they number every write whatever makes it (services, the admin,
QuerySet.update(), bulk_create(), the cascades of a project's or an account's deletion, the
seed's raw INSERT), and a create stays one statement.

Every row a statement writes to a task or a membership takes a number, and the transaction
holds the clock's row locked from its first number to its end, so numbers are given in
commit order: a transaction's numbers are all below the next one's, and a reader that sees a
number has seen every number below it. On PostgreSQL the first number of a transaction locks
the row (SELECT ... FOR UPDATE), then takes the number from a sequence and writes it to the
row; the transaction's later numbers come from the sequence alone (a transaction-local
setting holding the transaction id says the lock is held; a rolled-back savepoint takes both
back). So the row changes once per transaction, not once per row (a thousand updates of one
row in a transaction would cost a walk along its versions each). The clock's number is then
the first number of the last writing transaction, which a reader needs only as a bound: no
number at or below it is still to commit. SQLite, whose writers are serialised anyway,
updates the row for each number.

Rebuilding tasks_task on SQLite (Django does so for most field changes) drops the column and
the triggers: such a migration must install them again (tests/tasks/test_changes.py fails
without them).
"""

# ruff: noqa: S608 - fixed statements, no values.
from django.db import migrations, models

POSTGRESQL = [
    "ALTER TABLE tasks_task ADD COLUMN version bigint NOT NULL DEFAULT 0",
    "ALTER TABLE tasks_task ADD COLUMN entered bigint NOT NULL DEFAULT 0",
    "CREATE INDEX task_project_version_idx ON tasks_task (project_id, version)",
    "INSERT INTO tasks_changeclock (id, number, horizon) VALUES (1, 0, 0)",
    "CREATE SEQUENCE tasks_change_number_seq",
    """
    CREATE FUNCTION tasks_change_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        xact text := pg_current_xact_id()::text;
        taken bigint;
    BEGIN
        IF current_setting('tasks.change_clock_held', true) = xact THEN
            RETURN nextval('tasks_change_number_seq');
        END IF;
        PERFORM 1 FROM tasks_changeclock WHERE id = 1 FOR UPDATE;  -- until this transaction ends
        taken := nextval('tasks_change_number_seq');
        UPDATE tasks_changeclock SET number = taken WHERE id = 1;
        IF NOT FOUND THEN  -- a flushed table (tests)
            INSERT INTO tasks_changeclock (id, number, horizon) VALUES (1, taken, 0)
            ON CONFLICT (id) DO UPDATE SET number = EXCLUDED.number;
        END IF;
        PERFORM set_config('tasks.change_clock_held', xact, true);
        RETURN taken;
    END
    $$
    """,
    """
    CREATE FUNCTION tasks_task_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.version := tasks_change_number();
        IF TG_OP = 'INSERT' THEN
            NEW.entered := NEW.version;
        ELSIF NEW.project_id IS DISTINCT FROM OLD.project_id THEN
            INSERT INTO tasks_tombstone (task_id, project_id, entered, number, at)
            VALUES (OLD.id, OLD.project_id, OLD.entered, NEW.version, now());
            NEW.entered := NEW.version;
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_task_changed BEFORE INSERT OR UPDATE ON tasks_task
    FOR EACH ROW EXECUTE FUNCTION tasks_task_changed()
    """,
    """
    CREATE FUNCTION tasks_task_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO tasks_tombstone (task_id, project_id, entered, number, at)
        VALUES (OLD.id, OLD.project_id, OLD.entered, tasks_change_number(), now());
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_task_deleted AFTER DELETE ON tasks_task
    FOR EACH ROW EXECUTE FUNCTION tasks_task_deleted()
    """,
    """
    CREATE FUNCTION tasks_membership_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO tasks_accesschange (user_id, project_id, gained, number, at)
            VALUES (OLD.user_id, OLD.project_id, false, tasks_change_number(), now());
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO tasks_accesschange (user_id, project_id, gained, number, at)
            VALUES (NEW.user_id, NEW.project_id, true, tasks_change_number(), now());
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tasks_membership_changed AFTER INSERT OR DELETE OR UPDATE OF user_id, project_id
    ON projects_membership FOR EACH ROW EXECUTE FUNCTION tasks_membership_changed()
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER tasks_membership_changed ON projects_membership",
    "DROP FUNCTION tasks_membership_changed()",
    "DROP TRIGGER tasks_task_deleted ON tasks_task",
    "DROP FUNCTION tasks_task_deleted()",
    "DROP TRIGGER tasks_task_changed ON tasks_task",
    "DROP FUNCTION tasks_task_changed()",
    "DROP FUNCTION tasks_change_number()",
    "DROP SEQUENCE tasks_change_number_seq",
    "DROP INDEX task_project_version_idx",
    "ALTER TABLE tasks_task DROP COLUMN entered",
    "ALTER TABLE tasks_task DROP COLUMN version",
]

# The clock's row again if a flush (tests) removed it, then the next number.
SQLITE_NEXT_NUMBER = """
    INSERT OR IGNORE INTO tasks_changeclock (id, number, horizon) VALUES (1, 0, 0);
    UPDATE tasks_changeclock SET number = number + 1 WHERE id = 1;
"""
SQLITE_NUMBER = "(SELECT number FROM tasks_changeclock WHERE id = 1)"
SQLITE_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now')"

SQLITE = [
    "ALTER TABLE tasks_task ADD COLUMN version integer NOT NULL DEFAULT 0",
    "ALTER TABLE tasks_task ADD COLUMN entered integer NOT NULL DEFAULT 0",
    "CREATE INDEX task_project_version_idx ON tasks_task (project_id, version)",
    "INSERT INTO tasks_changeclock (id, number, horizon) VALUES (1, 0, 0)",
    f"""
    CREATE TRIGGER tasks_task_inserted AFTER INSERT ON tasks_task BEGIN
        {SQLITE_NEXT_NUMBER}
        UPDATE tasks_task SET version = {SQLITE_NUMBER}, entered = {SQLITE_NUMBER} WHERE id = NEW.id;
    END
    """,
    # Every update but the triggers' own, which change the version.
    f"""
    CREATE TRIGGER tasks_task_updated AFTER UPDATE ON tasks_task WHEN NEW.version = OLD.version BEGIN
        {SQLITE_NEXT_NUMBER}
        INSERT INTO tasks_tombstone (task_id, project_id, entered, number, at)
        SELECT OLD.id, OLD.project_id, OLD.entered, {SQLITE_NUMBER}, {SQLITE_NOW}
        WHERE OLD.project_id <> NEW.project_id;
        UPDATE tasks_task SET version = {SQLITE_NUMBER},
            entered = CASE WHEN OLD.project_id <> NEW.project_id THEN {SQLITE_NUMBER} ELSE entered END
        WHERE id = NEW.id;
    END
    """,
    f"""
    CREATE TRIGGER tasks_task_deleted AFTER DELETE ON tasks_task BEGIN
        {SQLITE_NEXT_NUMBER}
        INSERT INTO tasks_tombstone (task_id, project_id, entered, number, at)
        VALUES (OLD.id, OLD.project_id, OLD.entered, {SQLITE_NUMBER}, {SQLITE_NOW});
    END
    """,
    f"""
    CREATE TRIGGER tasks_membership_inserted AFTER INSERT ON projects_membership BEGIN
        {SQLITE_NEXT_NUMBER}
        INSERT INTO tasks_accesschange (user_id, project_id, gained, number, at)
        VALUES (NEW.user_id, NEW.project_id, 1, {SQLITE_NUMBER}, {SQLITE_NOW});
    END
    """,
    f"""
    CREATE TRIGGER tasks_membership_deleted AFTER DELETE ON projects_membership BEGIN
        {SQLITE_NEXT_NUMBER}
        INSERT INTO tasks_accesschange (user_id, project_id, gained, number, at)
        VALUES (OLD.user_id, OLD.project_id, 0, {SQLITE_NUMBER}, {SQLITE_NOW});
    END
    """,
    f"""
    CREATE TRIGGER tasks_membership_moved AFTER UPDATE OF user_id, project_id ON projects_membership
    WHEN NEW.user_id <> OLD.user_id OR NEW.project_id <> OLD.project_id BEGIN
        {SQLITE_NEXT_NUMBER}
        INSERT INTO tasks_accesschange (user_id, project_id, gained, number, at)
        VALUES (OLD.user_id, OLD.project_id, 0, {SQLITE_NUMBER}, {SQLITE_NOW}),
               (NEW.user_id, NEW.project_id, 1, {SQLITE_NUMBER}, {SQLITE_NOW});
    END
    """,
]

SQLITE_REVERSE = [
    "DROP TRIGGER tasks_membership_moved",
    "DROP TRIGGER tasks_membership_deleted",
    "DROP TRIGGER tasks_membership_inserted",
    "DROP TRIGGER tasks_task_deleted",
    "DROP TRIGGER tasks_task_updated",
    "DROP TRIGGER tasks_task_inserted",
    "DROP INDEX task_project_version_idx",
    "ALTER TABLE tasks_task DROP COLUMN entered",
    "ALTER TABLE tasks_task DROP COLUMN version",
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor not in statements:
            raise NotImplementedError(f"the changes feed has no triggers for {vendor}")
        for statement in statements[vendor]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_personal_projects"),
        ("tasks", "0002_task_project"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChangeClock",
            fields=[
                ("id", models.SmallIntegerField(primary_key=True, serialize=False)),
                ("number", models.BigIntegerField(default=0)),
                ("horizon", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="AccessChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("user_id", models.BigIntegerField()),
                ("project_id", models.BigIntegerField()),
                ("gained", models.BooleanField()),
                ("number", models.BigIntegerField()),
                ("at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["user_id", "project_id", "number"], name="accesschange_user_idx")
                ],
            },
        ),
        migrations.CreateModel(
            name="Tombstone",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("task_id", models.BigIntegerField()),
                ("project_id", models.BigIntegerField()),
                ("entered", models.BigIntegerField()),
                ("number", models.BigIntegerField()),
                ("at", models.DateTimeField()),
            ],
            options={
                "indexes": [
                    models.Index(fields=["project_id", "number"], name="tombstone_project_number_idx"),
                    models.Index(fields=["number"], name="tombstone_number_idx"),
                ],
            },
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRESQL, "sqlite": SQLITE}),
            _run({"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
