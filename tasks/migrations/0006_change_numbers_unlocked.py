"""PostgreSQL: change numbers without the clock's lock.

Until now (0003) a writing transaction locked the clock's row at its first change number and
held it to its end, so numbers were given in commit order. Each write waited there for the
commit of the write before it, its flush to disk included: concurrent writes could not share
a flush, and one transaction left open after a write stopped every other write.

Now writers take numbers from the sequence without waiting for one another, and the reader
finds how far it may go. At its first number a transaction takes a shared advisory lock whose
key is the sequence's last value before it (``tasks_change_number()``), held until the
transaction ends; every number it takes is above that value. ``tasks_change_bound()`` reads the
sequence's last value, then the keys of the locks other sessions hold: the smaller of the
value and the oldest key is a number at or below which nothing is still to commit. A writer
that took a number at or below that value before the read took its lock before too, so it
either shows among the locks or has ended, and a statement that starts after the bound's
sees what it committed. A reader asks for the bound, then reads its page, in a statement of
its own (a snapshot taken after the bound's), and reads no item above the bound.

The keys are 2**62 plus the value, in the advisory locks' single bigint form: kept apart from
the small keys applications usually take, and a foreign lock that lands among them only holds
the feed back while it is held, never loses anything. SQLite's writers are serialised by the
database itself: its triggers (0003) still number through the clock's row.

Upgrading: code from before this migration reads the clock's row for its bound, which
PostgreSQL no longer writes, and reads no bound of writers still open. Stop the service,
migrate, then start it (docs/deploy.md, "Upgrades"), rather than migrating under the old code.
"""

from django.db import migrations

KEY_BASE = 2**62  # an advisory lock's key: this plus the sequence's value

FORWARD = [
    f"""
    CREATE OR REPLACE FUNCTION tasks_change_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        xact text := pg_current_xact_id()::text;
        taken bigint;
    BEGIN
        IF current_setting('tasks.change_clock_held', true) IS DISTINCT FROM xact THEN
            -- Before the first number: every number this transaction takes is above ``taken``.
            SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO taken
            FROM tasks_change_number_seq;
            PERFORM pg_advisory_xact_lock_shared({KEY_BASE} + taken);
            PERFORM set_config('tasks.change_clock_held', xact, true);
        END IF;
        RETURN nextval('tasks_change_number_seq');
    END
    $$
    """,
    f"""
    CREATE FUNCTION tasks_change_bound() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        taken bigint;
        oldest bigint;
    BEGIN
        -- The sequence first, then the writers: the order is what makes the bound safe.
        SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO taken
        FROM tasks_change_number_seq;
        SELECT min(((classid::bigint << 32) | objid::bigint) - {KEY_BASE}) INTO oldest
        FROM pg_locks
        WHERE locktype = 'advisory' AND objsubid = 1 AND classid::bigint >= {KEY_BASE >> 32}
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          -- The caller's own writes are visible to it; a prepared transaction's pid is null.
          AND pid IS DISTINCT FROM pg_backend_pid();
        RETURN LEAST(taken, oldest);
    END
    $$
    """,
]

# 0003's function, as it was.
REVERSE = [
    "DROP FUNCTION tasks_change_bound()",
    """
    CREATE OR REPLACE FUNCTION tasks_change_number() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
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
]


def _run(statements: list[str]):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements:
                schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("tasks", "0005_stored_text_stable")]

    operations = [migrations.RunPython(_run(FORWARD), _run(REVERSE))]
