"""Django's PostgreSQL backend (psycopg 3), with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django asks a reused connection ``SELECT 1`` before the first query
of every request: a round trip to the server on every request, as much as the query the
request came for (measured: 120 us against 1 us, BENCHMARKS.md). An idle connection has
nothing to read unless the server has spoken since: a termination notice (a restart, an
administrator, idle_session_timeout), the end of the stream, or a notification. So the
socket is polled first, without waiting, and only a connection with something to read
pays for Django's ``SELECT 1``. A connection whose server vanished without a word (a cut
cable) passes, as it would pass the moment before ``SELECT 1`` too: its first query fails
and Django closes it at the end of that request.
"""

import select
from typing import Any

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


def _has_input(connection: Any) -> bool:
    """Whether the server has sent anything the connection has not read (no waiting)."""
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE and not _has_input(connection):
            return True  # idle and silent: as usable as SELECT 1 would find it
        # In a transaction (perhaps a failed one, where SELECT 1 fails too), or the server spoke.
        return bool(super().is_usable())
