"""The process's in-memory caches: each bounded, each in one registry that tests clear.

Every memo this service keeps in a process (compiled SQL per database connection, URL
prefixes per host, verified tokens, live sessions, page-link templates) is a
``BoundedCache``: a dict that forgets its least recently used entry once it holds
``size`` of them, so memory stays flat whatever clients send. ``clear_all()`` empties
every one of them (the test suite calls it before each test).

Not functools.lru_cache: these are filled and emptied by their owners (a revocation
drops the live-session memo, an expired token leaves the verified ones) and some live on
a database connection rather than on a function. Not cachetools: its LRUCache costs a
microsecond per hit, and the hot reads hit three of these per request.

A cache is shared by the threads of a process: each operation is one or two dict
calls, safe under the GIL; a race between two of them costs a recomputation, never a
wrong answer (an entry is a pure function of its key, or checked again on every hit).
"""

import weakref
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_registry: "weakref.WeakSet[BoundedCache[object, object]]" = weakref.WeakSet()


class BoundedCache(Generic[K, V]):
    """At most ``size`` entries; the least recently used goes first."""

    __slots__ = ("__weakref__", "entries", "name", "size")

    def __init__(self, name: str, size: int) -> None:
        if size < 1:
            raise ValueError("a cache holds at least one entry")
        self.name = name
        self.size = size
        self.entries: OrderedDict[K, V] = OrderedDict()
        _registry.add(self)  # type: ignore[arg-type]

    def get(self, key: K) -> V | None:
        entries = self.entries
        value = entries.get(key)
        if value is not None:
            try:  # noqa: SIM105  contextlib.suppress costs a context manager per hit
                entries.move_to_end(key)
            except KeyError:  # another thread dropped it meanwhile: the value read stands
                pass
        return value

    def put(self, key: K, value: V) -> None:
        entries = self.entries
        entries[key] = value
        entries.move_to_end(key)
        while len(entries) > self.size:
            try:
                entries.popitem(last=False)
            except KeyError:  # emptied by another thread
                break

    def pop(self, key: K) -> None:
        self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __iter__(self) -> Iterator[K]:
        """The keys, least recently used first (a copy: other threads may change the cache)."""
        return iter(list(self.entries))

    def __repr__(self) -> str:
        return f"<BoundedCache {self.name}: {len(self.entries)}/{self.size}>"


def registered() -> list[BoundedCache[object, object]]:
    """Every cache alive in this process."""
    return list(_registry)


def clear_all() -> None:
    """Empty every cache of this process."""
    for cache in registered():
        cache.clear()
