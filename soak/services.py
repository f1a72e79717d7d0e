"""PostgreSQL and Redis on this machine: probe, stop, start, and a database of our own.

The commands are the ones DEVELOPERS.md gives. Other runs (the test suite) may use the same
PostgreSQL and Redis: whoever stops one must start it again, which ``ensure_up`` does.
"""

import contextlib
import os
import subprocess
import time
from collections.abc import Callable

import psycopg
import redis
from psycopg import sql
from redis.backoff import NoBackoff
from redis.retry import Retry

REDIS_PORT = 6379


def _cluster() -> list[str]:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    return ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]


def _run(argv: list[str], timeout: float = 60) -> None:
    subprocess.run(argv, check=True, timeout=timeout, capture_output=True)  # noqa: S603


def postgres_up(url: str) -> bool:
    """The server ``url`` points at answers (in its ``postgres`` database: ours may not exist yet)."""
    try:
        with psycopg.connect(maintenance_url(url), connect_timeout=1) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def postgres_stop() -> None:
    _run([*_cluster(), "stop", "--mode", "fast"])


def postgres_start() -> None:
    _run([*_cluster(), "start"])


def redis_up(port: int = REDIS_PORT) -> bool:
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),  # the client's default backs off for seconds
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_stop(port: int = REDIS_PORT) -> None:
    # Exits non-zero when the server goes away before answering, which is the point.
    subprocess.run(  # noqa: S603
        ["redis-cli", "-p", str(port), "shutdown", "nosave"],  # noqa: S607
        check=False,
        timeout=30,
        capture_output=True,
    )


def redis_start(port: int = REDIS_PORT) -> None:
    _run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ]
    )


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.1) -> float | None:
    """Seconds until ``check()`` was true, or None after ``timeout``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(step)


def ensure_up(database_url: str, timeout: float = 60) -> list[str]:
    """Start PostgreSQL and Redis if they are not answering; wait for both. Returns problems."""
    problems = []
    if not postgres_up(database_url):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            postgres_start()
    if not redis_up():
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            redis_start()
    if wait_for(lambda: postgres_up(database_url), timeout) is None:
        problems.append("PostgreSQL did not come up")
    if wait_for(redis_up, timeout) is None:
        problems.append("Redis did not come up")
    return problems


def maintenance_url(url: str) -> str:
    """The same server's ``postgres`` database, to create and drop others from."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = "postgres"
    return psycopg.conninfo.make_conninfo(**info)  # type: ignore[arg-type]


def database_name(url: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])


def database_recreate(url: str) -> None:
    """Drop (if there) and create the database ``url`` names: empty for this run."""
    name = sql.Identifier(database_name(url))
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def database_drop(url: str) -> None:
    name = sql.Identifier(database_name(url))
    with psycopg.connect(maintenance_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


def redis_flush(url: str) -> None:
    """Empty the one Redis database ``url`` names (never the others)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.flushdb()
    finally:
        client.close()
