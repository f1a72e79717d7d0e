"""Run one action in several threads at once, each on its own database connection."""

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection

Outcome = TypeVar("Outcome", int, str)


def at_once(attempt: Callable[[int], Outcome], contenders: int) -> list[Outcome]:
    """Start ``attempt(n)`` for n in 0..contenders-1 in threads released together by a barrier;
    their outcomes, sorted. Each thread closes its connection, so the next test's flush is
    not blocked by one left open."""
    barrier = threading.Barrier(contenders)
    outcomes: list[Outcome] = []

    def contend(n: int) -> None:
        barrier.wait()
        try:
            outcomes.append(attempt(n))
        finally:
            connection.close()

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)
