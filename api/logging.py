"""Log records that say which request they belong to and never carry a token.

Wired by ``LOGGING`` in config/settings.py: the filters sit on the console handler, so they
see every record that reaches it, whichever logger it was sent to. The JSON formatter is
python-json-logger's; only the redaction of tracebacks is added here.
"""

import contextvars
import logging
import re
from typing import Any

from django.conf import settings
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.orjson import OrjsonFormatter

# Set by api.middleware.RequestIdMiddleware for the length of one request; "-" outside one
# (start-up, management commands), as in common access log formats.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# These patterns run over client text (a Host header, a path) on every line logged, so each
# must take time linear in that text: a match may only start where a run of its characters
# starts (the lookbehinds), and a run once read is never read again (possessive *+ and ++,
# which do not give characters back). Without both, "eyJ" * 10_000 in a Host header made
# every "eyJ" a fresh start that read on to the end: 5 s of CPU for one 30 KB request.
#
# A JWS or JWE in compact form: base64url segments separated by dots, the first one a JSON
# header, so it starts with "eyJ" (base64 of '{"'); RFC 7515 §7.1, RFC 7516 §7.1. The run
# holding "eyJ" is redacted whole, from its first character: the lookahead reads it once.
JWT = re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*?eyJ)[A-Za-z0-9_-]*+(?:\.[A-Za-z0-9_-]*+){2,4}")
# An Authorization header value, whatever the credentials inside look like (RFC 6750 §2.1
# b64token): a token (Bearer, DPoP: RFC 9449 §7.1) or a client's id and secret (Basic).
BEARER = re.compile(r"\b(Bearer|DPoP|Basic)\s++[A-Za-z0-9._~+/-]++=*+", re.IGNORECASE)
# Paths whose next segment is a secret, named by config (LOG_SECRET_PATHS): a calendar feed's
# /tasks/feed/<secret>.ics (feeds/).
SECRET_PATHS = tuple(settings.LOG_SECRET_PATHS)
PATH_SECRET = (
    re.compile(f"({'|'.join(map(re.escape, SECRET_PATHS))})[^/?#\\s\"']++") if SECRET_PATHS else None
)
_STANDARD_ATTRS = frozenset(
    (*logging.LogRecord("", 0, "", 0, None, None, None).__dict__, "message", "asctime", "request_id")
)


def redact(text: str) -> str:
    if "eyJ" in text:
        text = JWT.sub("[redacted jwt]", text)
    if PATH_SECRET is not None and any(path in text for path in SECRET_PATHS):
        text = PATH_SECRET.sub(r"\1[redacted]", text)
    return BEARER.sub(r"\1 [redacted]", text)


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served (``request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class RedactFilter(logging.Filter):
    """Defence in depth: rewrite anything that looks like a token out of the message and extras.

    Nothing in this service logs a token on purpose (the access log leaves out headers, query
    strings and bodies); this catches the accident, such as a library logging a URL. It works
    on the record itself, so handlers after this one see the redacted text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # malformed %-args: leave the record to the handler's own error report
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        for name, value in list(record.__dict__.items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                record.__dict__[name] = redact(value)
        return True


class _RedactTracebacks(logging.Formatter):
    # An exception's message may quote what it failed on; the filters never see that text,
    # because formatters render tracebacks themselves.
    def formatException(self, ei: Any) -> str:
        return redact(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return redact(super().formatStack(stack_info))


class PlainFormatter(_RedactTracebacks):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")


class JsonFormatter(_RedactTracebacks, OrjsonFormatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id and extras."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}{request_id}",
            style="{",
            timestamp="time",
            rename_fields={"levelname": "level", "name": "logger"},
            # django.request attaches the HttpRequest, whose repr has the query string.
            reserved_attrs=[*RESERVED_ATTRS, "request"],
        )
