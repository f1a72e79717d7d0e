"""Which feed a secret opens, and the tasks a feed serves (whose feeds a caller sees: feeds.permissions)."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeds.models import Feed, token_digest
from tasks.reads import COLUMNS, member_task_cells

# What feeds.services.feed_create hands out: secrets.token_urlsafe(32).
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")
# Rows fetched from the database at a time while a feed is written out: memory holds one
# such chunk, whatever the number of tasks (a server-side cursor on PostgreSQL, fetchmany
# on SQLite).
CHUNK_ROWS = 2000


@dataclass(frozen=True)
class FeedAccess:
    """A feed a secret opened: whose tasks to serve, and under what name."""

    feed_id: int
    user_id: int
    username: str
    name: str
    last_used: datetime | None

    @property
    def calendar_name(self) -> str:
        return self.name or f"Tasks of {self.username}"


def feed_for_token(*, token: str) -> FeedAccess | None:
    """The live feed of a secret, or None: unknown, malformed, revoked, or its user inactive.

    The secret is never compared: its digest is looked up. How long that takes can depend
    only on the digest, and a digest that shares a prefix with a stored one says nothing
    about the secret behind it, so the answer's timing does not tell how much of a guessed
    secret was right.
    """
    if not TOKEN_SHAPE.fullmatch(token):
        return None  # not a secret we could have made: nothing to look up
    row = (
        # A deactivated user's feeds stop with their tokens; a deleted user's went with them.
        Feed.objects.filter(token_digest=token_digest(token), user__is_active=True)
        .values_list("id", "user_id", "user__username", "name", "last_used")
        .first()
    )
    return None if row is None else FeedAccess(*row)


def feed_tasks(*, user_id: int) -> Iterator[dict[str, Any]]:
    """Every task of the feed owner's projects, in due order, read CHUNK_ROWS at a time, as
    rows for ``tasks.reads.TaskLinks.task()``.

    The owner's projects, not what the owner may see: a staff member's feed is their
    projects' tasks, never everyone's behind one secret URL (tasks.permissions.member_tasks).
    """
    # task_project_due_idx serves the order, project by project.
    cells = member_task_cells(user_id=user_id, order=("due_to", "id"), chunk_size=CHUNK_ROWS)
    return (dict(zip(COLUMNS, row, strict=True)) for row in cells)
