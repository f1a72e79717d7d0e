"""Whether work grows linearly with its input, judged by the CPU time of the thread doing it.

A wall-clock bound fails on a loaded machine (the suite runs in parallel workers) and passes
quadratic work on a fast one. The ratio of two timings on the same machine does neither:
linear work on four times the input takes about four times as long, quadratic work sixteen.
The timings are the thread's own CPU time (time.thread_time), not the wall clock: while
another process holds the core, this thread's clock stands still, so a busy machine (other
workers, a benchmark beside the suite) does not skew one timing against the other.
"""

import time
from collections.abc import Callable

# Between linear (4) and quadratic (16): room for a busy machine, none for a quadratic pass.
GROWTH_BOUND = 8
ROUNDS = 5
# Short timings are mostly noise; one round repeats the action until it takes this long.
ROUND_SECONDS = 0.005


def _timed(action: Callable[[], object], repeats: int) -> float:
    started = time.thread_time()
    for _ in range(repeats):
        action()
    return time.thread_time() - started


def assert_linear(action: Callable[[str], object], hostile: Callable[[int], str], *, count: int) -> None:
    """``action(hostile(4 * count))`` takes less than ``GROWTH_BOUND`` times as long as
    ``action(hostile(count))``. The smaller input's time is the best of several rounds; the
    larger's is the first round under the bound, so quadratic work is tried ``ROUNDS`` times
    and linear work usually once."""
    small, large = hostile(count), hostile(4 * count)
    repeats = 1
    while (spent := _timed(lambda: action(small), repeats)) < ROUND_SECONDS:
        repeats *= 2
    best_small = min([spent, *(_timed(lambda: action(small), repeats) for _ in range(ROUNDS - 1))])
    timings = []
    for _ in range(ROUNDS):
        timings.append(_timed(lambda: action(large), repeats))
        if timings[-1] < GROWTH_BOUND * best_small:
            return
    raise AssertionError(
        f"{len(large)} characters took {min(timings) / best_small:.1f} times as long as {len(small)}"
        f" (linear work: about 4, quadratic: about 16)"
    )
