"""The process's caches: bounded, least recently used out first, all in one registry."""

import threading

import pytest

from api import caches
from api.caches import BoundedCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache("test.lru", 2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # a is now the most recently used
    cache.put("c", 3)
    assert list(cache) == ["a", "c"]
    assert cache.get("b") is None
    assert len(cache) == 2


def test_putting_a_known_key_replaces_it_without_growing() -> None:
    cache: BoundedCache[str, int] = BoundedCache("test.replace", 2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)  # b, not a, was the least recently used
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (10, None, 3)


def test_pop_and_clear() -> None:
    cache: BoundedCache[str, int] = BoundedCache("test.pop", 4)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.pop("a")
    cache.pop("never there")
    assert list(cache) == ["b"]
    cache.clear()
    assert len(cache) == 0


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BoundedCache("test.empty", 0)


def test_the_service_caches_are_registered_and_bounded() -> None:
    named = {cache.name: cache for cache in caches.registered()}
    for name in ("pagination.templates", "reads.prefixes", "codec.verified_tokens", "revocation.memo"):
        assert name in named, name
        assert 1 <= named[name].size <= 100_000


def test_clear_all_empties_every_registered_cache() -> None:
    first: BoundedCache[str, int] = BoundedCache("test.first", 4)
    second: BoundedCache[int, str] = BoundedCache("test.second", 4)
    first.put("a", 1)
    second.put(1, "a")
    caches.clear_all()
    assert len(first) == len(second) == 0


def test_a_cache_nobody_holds_leaves_the_registry() -> None:
    BoundedCache("test.dropped", 4)  # no reference kept: garbage at once in CPython
    assert "test.dropped" not in {cache.name for cache in caches.registered()}


def test_threads_sharing_a_full_cache_keep_it_bounded() -> None:
    cache: BoundedCache[int, int] = BoundedCache("test.threads", 64)
    errors: list[BaseException] = []

    def churn(offset: int) -> None:
        try:
            for n in range(20_000):
                key = (offset + n) % 200
                if cache.get(key) is None:
                    cache.put(key, key)
                if n % 97 == 0:
                    cache.pop(key)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 64
    assert all(cache.get(key) in (None, key) for key in range(200))
