"""Load with faults: a ledger-checked load generator and fault injector (``make soak``).

Concurrent clients, each its own user, run a mixed workload against the shipped server
(``manage.py serve``, several granian workers, PostgreSQL and Redis) and write every
request's outcome into a ledger: acknowledged (2xx), refused (4xx, or a JSON 503) or unknown
(no answer). Meanwhile faults come in turn: a worker killed with SIGKILL, PostgreSQL
stopped and started, Redis stopped and started, the task worker killed with SIGKILL (and,
as a supervisor would, started again; so is it whenever it exits). Afterwards the ledger is
checked against what the API (and the database) hold, and, once the outbox has drained,
against what went out: each client's webhook (soak.receivers, soak.events_ledger) and,
with ``--security-events``, the Security Event Tokens of logouts. See ``python -m soak --help``.

``soak.http`` and ``soak.server`` are also used by the integration tests.
"""
