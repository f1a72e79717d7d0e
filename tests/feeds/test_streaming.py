"""A feed of many tasks is streamed: rows are read in chunks while the body is sent, so what
the server holds at any moment is one chunk of rows, however many tasks the owner has."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db.models.sql import compiler
from rest_framework.test import APIClient

from feeds.selectors import CHUNK_ROWS
from feeds.services import feed_create
from projects.services import personal_project_id
from tasks.models import Task
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def add_tasks(person: User, count: int) -> None:
    project_id = personal_project_id(person.pk)  # bulk_create() skips Task.save(), which would find it
    Task.objects.bulk_create(
        (
            Task(person=person, project_id=project_id, title=f"task {n}", due_to=DUE + timedelta(minutes=n))
            for n in range(count)
        ),
        batch_size=5000,
    )


@pytest.fixture
def fetched_blocks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each block of task rows the ORM fetches while a feed is written out."""
    blocks: list[int] = []
    real = compiler.cursor_iter

    def counting(cursor: Any, sentinel: Any, col_count: int | None, itersize: int) -> Iterator[Any]:
        for rows in real(cursor, sentinel, col_count, itersize):
            if itersize == CHUNK_ROWS:  # the feed's query; other queries fetch by Django's default
                blocks.append(len(rows))
            yield rows

    monkeypatch.setattr(compiler, "cursor_iter", counting)
    return blocks


def stream(owner: User, blocks: list[int]) -> tuple[int, int]:
    """Read the owner's feed as a client does, chunk by chunk, keeping nothing.

    Returns (VTODOs sent, the most task rows ever fetched from the database and not yet sent).
    """
    response = APIClient().get(f"/tasks/feed/{feed_create(user_id=owner.pk).token}.ics")
    assert response.status_code == 200
    assert response.streaming
    assert blocks == []  # answered before a single task row was read

    sent = ahead = 0
    for chunk in response.streaming_content:
        sent += chunk.count(b"BEGIN:VTODO")
        ahead = max(ahead, sum(blocks) - sent)
    return sent, ahead


def test_a_feed_is_read_from_the_database_a_chunk_at_a_time(owner: User, fetched_blocks: list[int]) -> None:
    count = 2 * CHUNK_ROWS + 1
    add_tasks(owner, count)

    sent, ahead = stream(owner, fetched_blocks)

    assert sent == count
    assert fetched_blocks == [CHUNK_ROWS, CHUNK_ROWS, 1]
    assert ahead < CHUNK_ROWS  # the next chunk is fetched only once the last one is sent


@pytest.mark.postgres
def test_a_large_feed_holds_one_chunk_at_a_time(owner: User, fetched_blocks: list[int]) -> None:
    """PostgreSQL hands the rows over through a server-side cursor, CHUNK_ROWS at a time.

    10,000 tasks rather than 100,000: icalendar writes a VTODO in about 0.2 ms, so a feed
    of 100,000 takes 20 s or more to write out. The property shown does not depend on the
    count: the rows fetched and not yet sent never exceed one chunk, here over five chunks,
    and would not over fifty.
    """
    count = 5 * CHUNK_ROWS
    add_tasks(owner, count)

    sent, ahead = stream(owner, fetched_blocks)

    assert sent == count
    assert len(fetched_blocks) == 5
    assert max(fetched_blocks) == CHUNK_ROWS
    assert ahead < CHUNK_ROWS
