"""Checks of the settings the changes feed relies on (``manage.py check``, and ``migrate``, which
`make run` and a deployment run before serving)."""

from typing import Any

from django.core import checks
from django.db import connections
from psycopg import IsolationLevel

# PostgreSQL runs READ UNCOMMITTED as READ COMMITTED.
FEED_ISOLATION = (None, IsolationLevel.READ_UNCOMMITTED, IsolationLevel.READ_COMMITTED)


@checks.register(checks.Tags.database)
def feed_isolation(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A page of the changes feed reads its bound, then its items in a later snapshot
    (tasks/changes.py): under REPEATABLE READ or SERIALIZABLE both would share one snapshot
    taken before the bound, and a write that ended in between would be skipped."""
    errors: list[checks.CheckMessage] = []
    for alias in connections:
        connection = connections[alias]
        level = connection.settings_dict.get("OPTIONS", {}).get("isolation_level")
        if connection.vendor == "postgresql" and level not in FEED_ISOLATION:
            errors.append(
                checks.Error(
                    f"DATABASES[{alias!r}] OPTIONS isolation_level is {level!r}: the changes feed "
                    "needs PostgreSQL's default, READ COMMITTED.",
                    hint="Leave isolation_level out, or set it to IsolationLevel.READ_COMMITTED.",
                    id="tasks.E001",
                )
            )
    return errors
