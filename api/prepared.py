"""Querysets compiled to SQL once per shape, then executed with new parameter values; a
model's INSERT compiled once, then executed with each new row's values.

For the hot read paths (a page of tasks, one task) building a queryset and compiling it
costs the ORM 0.35-0.45 ms, against 10-35 us for the database to answer. The ORM still
writes the SQL, once per shape and database connection: the queryset is built with
sentinel values in the places that vary ("slots"), compiled, and the positions of the
sentinels among the parameters are remembered. Later calls swap in their own values and
run the same SQL. The rows come back as the driver returns them, without the ORM's
converters: callers select cells already in the form they need (tasks/reads.py).
Hand-written because no maintained library caches compiled Django querysets.

insert() is Model.save() of a new row the same way: Django's insert compiler writes the
statement once per model and connection (0.15 ms of Python a save, in a create of 1 ms),
and each row's values are its fields' own pre_save() and get_db_prep_save(), as the
compiler takes them. A model that save() would treat differently (parents, signal
receivers, a value that is an expression, a returned column with a converter) is saved by
save() itself.

The SQL runs on the driver's own connection, with Django's checks around it (health
check, thread sharing, broken transaction, errors translated into django.db's), but past
Django's cursor wrapper, which costs twice the query itself for a one-row read. On
PostgreSQL it is also prepared on the server at its first run (psycopg's ``prepare=True``,
with its parameters bound by the server rather than written into the text): later runs
skip parsing and planning, 0.37 ms to 0.16 ms for the detail (BENCHMARKS.md). Django turns
psycopg's prepared statements off unless asked (config/settings.py asks, and
DATABASE_PREPARED_STATEMENTS=false does not); then ``prepare=True`` prepares nothing. Whenever
something watches queries (DEBUG's query log, assertNumQueries, an execute_wrapper such as
a tracing hook), they go through Django's cursor instead, so every query is seen.
"""

import itertools
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.db import connections, transaction
from django.db.models import Model, QuerySet
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery

from api.caches import BoundedCache

Slots = dict[str, Any]
# Shapes vary with page size and order: bounded, so memory stays flat.
MAX_SHAPES = 256
_counter = itertools.count(1)


def _sentinel(value: Any) -> Any:
    """A value of the same kind as ``value`` that no real query would carry."""
    n = next(_counter)
    if isinstance(value, bool):
        raise TypeError("booleans cannot be told apart by value; give them their own shape")
    if isinstance(value, int):
        return -(10**15) - n
    if isinstance(value, datetime):
        return datetime(1, 1, 1, tzinfo=UTC) + timedelta(microseconds=n)
    if isinstance(value, str):
        return f"\x00slot{n}\x00"
    raise TypeError(f"no sentinel for {type(value).__name__}")


@dataclass(frozen=True)
class Statement:
    """SQL written around querysets the ORM compiled (what the ORM cannot say, such as a
    LATERAL join), with its parameters in order: what a build may return for rows()."""

    sql: str
    params: tuple[Any, ...]


@dataclass(frozen=True)
class _Compiled:
    sql: str
    driver_sql: str  # the same in the driver's placeholder style
    params: tuple[Any, ...]
    positions: dict[str, list[int]]


# A shape whose slots did not survive compilation as parameters: built afresh every time.
_NOT_PREPARED = _Compiled("", "", (), {})


def _adapt(value: Any, connection: Any) -> Any:
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


Build = Callable[[Slots], "QuerySet[Any] | Statement"]


def _compile(build: Build, values: Slots, connection: Any) -> _Compiled | None:
    sentinels = {name: _sentinel(value) for name, value in values.items()}
    built = build(sentinels)
    if isinstance(built, Statement):
        sql, params = built.sql, built.params
    else:
        sql, params = built.query.get_compiler(connection=connection).as_sql()
    positions: dict[str, list[int]] = {}
    for name, sentinel in sentinels.items():
        forms = (sentinel, _adapt(sentinel, connection))
        positions[name] = [i for i, param in enumerate(params) if param in forms]
        if not positions[name]:
            return None  # the slot did not survive compilation as a parameter: do not cache
    return _Compiled(sql, _driver_sql(sql, connection), tuple(params), positions)


def _driver_sql(sql: str, connection: Any) -> str:
    if connection.vendor == "sqlite":
        # What Django's SQLiteCursorWrapper does to every query, done once.
        return _FORMAT_PLACEHOLDER.sub("?", sql).replace("%%", "%")
    return sql  # psycopg and the others take Django's %s style as is


_FORMAT_PLACEHOLDER = re.compile(r"(?<!%)%s")


def _execute(connection: Any, compiled: _Compiled, params: list[Any]) -> list[Any]:
    """``compiled`` run with ``params``: what ``connection.cursor().execute()`` does."""
    if connection.queries_logged or connection.execute_wrappers:
        return _through_django(connection, compiled.sql, params)
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors:
        if connection.vendor == "sqlite":
            return connection.connection.execute(compiled.driver_sql, params).fetchall()
        # psycopg's own Cursor binds on the server; Django's connections make client-side ones.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(compiled.driver_sql, params, prepare=True)
            return cursor.fetchall()


def _through_django(connection: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _cache(connection: Any) -> BoundedCache[Hashable, _Compiled]:
    cache: BoundedCache[Hashable, _Compiled] | None = connection.__dict__.get("prepared_queries")
    if cache is None:
        # One per connection: the SQL is the connection's database's.
        cache = connection.__dict__["prepared_queries"] = BoundedCache(
            f"prepared.{connection.alias}", MAX_SHAPES
        )
    return cache


def rows(
    shape: Hashable,
    build: Build,
    *,
    using: str = "default",
    **values: Any,
) -> list[Any]:
    """The rows ``build(values)`` (a ``values_list`` queryset, or a Statement) selects, via
    cached SQL, as the database driver returns them: no ORM converter runs on them."""
    connection = connections[using]
    cache = _cache(connection)
    compiled = cache.get(shape)
    if compiled is None:
        compiled = _compile(build, values, connection) or _NOT_PREPARED
        cache.put(shape, compiled)
    if compiled is _NOT_PREPARED:
        built = build(values)
        if isinstance(built, Statement):
            return _through_django(connection, built.sql, built.params)
        return list(built)
    params = list(compiled.params)
    for name, indexes in compiled.positions.items():
        value = _adapt(values[name], connection)
        for index in indexes:
            params[index] = value
    return _execute(connection, compiled, params)


def _compile_insert(instance: Model, fields: list[Any], params: list[Any], connection: Any) -> _Compiled:
    """The INSERT of ``instance`` as Django's compiler writes it, returning the model's
    returned columns (its id); _NOT_PREPARED where the statement is not one parameter per
    field in order, or a returned column would need a converter."""
    meta = instance._meta
    query = InsertQuery(type(instance))
    query.insert_values(fields, [instance], raw=True)  # raw: the values already pre_save()d
    compiler = query.get_compiler(connection=connection)
    compiler.returning_fields = meta.db_returning_fields
    statements = compiler.as_sql()
    returned = [field.get_col(meta.db_table) for field in meta.db_returning_fields]
    if (
        len(statements) != 1
        or not _same_params(statements[0][1], params)
        or compiler.get_converters(returned)
    ):
        return _NOT_PREPARED
    sql = statements[0][0]
    return _Compiled(sql, _driver_sql(sql, connection), (), {})


def _same_params(compiled: Sequence[Any], ours: Sequence[Any]) -> bool:
    """Whether the compiler's parameters are ours, in order. A value a driver wraps (psycopg's
    Jsonb, a JSONField's on PostgreSQL) has no equality of its own: its content is compared."""
    if len(compiled) != len(ours):
        return False
    return all(
        a == b or (type(a) is type(b) and hasattr(a, "obj") and a.obj == b.obj)
        for a, b in zip(compiled, ours, strict=True)
    )


def _insert_plan(instance: Model, connection: Any) -> tuple[_Compiled, list[Any]] | None:
    """The cached INSERT of ``instance`` and its parameters, with ``instance``'s auto_now
    fields set; None where save() would do otherwise."""
    model = type(instance)
    meta = model._meta
    if (
        instance.pk is not None
        or meta.parents
        or meta.proxy
        or pre_save.has_listeners(model)
        or post_save.has_listeners(model)
    ):
        return None
    # What save() checks first: no unsaved related object; ids taken from related objects.
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]  # not in the stubs
    fields = [
        field for field in meta.local_concrete_fields if not field.generated and field is not meta.auto_field
    ]
    values = [field.pre_save(instance, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        return None
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    cache = _cache(connection)
    compiled = cache.get(("insert", model))
    if compiled is None:
        compiled = _compile_insert(instance, fields, params, connection)
        cache.put(("insert", model), compiled)
    return None if compiled is _NOT_PREPARED else (compiled, params)


def insert(instance: Model, *, using: str = "default") -> None:
    """``instance.save()`` for a new row (no primary key yet): the same row written, the
    same values set on ``instance`` (auto_now fields, the returned id), the same state.
    The model's own save() does not run: a caller whose model overrides it does its work."""
    connection = connections[using]
    plan = _insert_plan(instance, connection)
    if plan is None:
        instance.save(using=using)
        return
    compiled, params = plan
    with transaction.mark_for_rollback_on_error(using=using):
        returned = _execute(connection, compiled, params)
    for field, value in zip(instance._meta.db_returning_fields, returned[0], strict=True):
        setattr(instance, field.attname, value)
    instance._state.adding = False
    instance._state.db = using
