"""Files the service generates once and keeps under its state directory (``var/`` by default).

Several worker processes may start at the same moment, so a generated file is written to a
private temporary name and then hard-linked into place: ``link`` fails if the name exists,
so exactly one writer wins and everyone reads the winner's bytes.
"""

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """Return the bytes at ``path``, creating them with ``make()`` (mode 0600) if absent."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(make())
            f.flush()
            os.fsync(f.fileno())
        # If another process won the race, its bytes are the ones everyone uses.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_bytes()
