"""Exit 0 when PostgreSQL (TEST_DATABASE_URL) and Redis (TEST_REDIS_URL) both answer, else 1 saying why."""

import os
import sys

import psycopg
import redis

database_url = os.environ["TEST_DATABASE_URL"]
redis_url = os.environ["TEST_REDIS_URL"]
problems = []
try:
    psycopg.connect(database_url, connect_timeout=3).close()
except psycopg.Error as exc:
    problems.append(f"PostgreSQL at {database_url}: {exc}".strip())
try:
    redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
except redis.RedisError as exc:
    problems.append(f"Redis at {redis_url}: {exc}")
for problem in problems:
    print(f"unreachable: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
