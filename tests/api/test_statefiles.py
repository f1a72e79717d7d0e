"""``read_or_create``: a generated state file is made once, whoever gets there first."""

import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from api.statefiles import read_or_create


def _race(path: Path, barrier: Any, results: Any) -> None:
    barrier.wait()
    results.put(read_or_create(path, lambda: os.urandom(4096)))


def test_concurrent_read_or_create_agrees_on_one_file(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = 8
    for round_ in range(3):
        path = tmp_path / f"round-{round_}" / "secret"
        barrier, results = context.Barrier(workers), context.Queue()
        processes = [context.Process(target=_race, args=(path, barrier, results)) for _ in range(workers)]
        for process in processes:
            process.start()
        seen = [results.get(timeout=30) for _ in processes]
        for process in processes:
            process.join(timeout=30)
            assert process.exitcode == 0

        assert len(set(seen)) == 1
        assert seen[0] == path.read_bytes()
        assert len(seen[0]) == 4096
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert list(path.parent.iterdir()) == [path]  # every loser cleaned up its temporary file


def test_read_or_create_never_remakes_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b"kept")

    assert read_or_create(path, lambda: pytest.fail("must not be called")) == b"kept"
