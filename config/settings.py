"""Settings, read from the environment (and an optional ``.env``) and nothing else.

Production differs from development only by environment. Every variable is parsed by one
reader (environs) which collects every malformed value and fails at start-up, listing them.
"""

import os
import re
import secrets
from pathlib import Path

from corsheaders.defaults import default_headers
from environs import Env
from jwt.algorithms import get_default_algorithms
from marshmallow import ValidationError
from marshmallow.validate import ContainsOnly, Length, OneOf, Range, Regexp

from api.statefiles import read_or_create

BASE_DIR = Path(__file__).resolve().parent.parent
JWT_ALGORITHMS = [
    *("HS256", "HS384", "HS512", "RS256", "RS384", "RS512"),
    *("PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"),
]
RATE = Regexp(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$", error="Not a rate such as 30/min.")
# An origin is scheme://host[:port] and nothing else: "*" and "null" are refused on purpose.
ORIGIN = re.compile(r"https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?")


def _origins(origins: list[str]) -> None:
    if bad := [origin for origin in origins if not ORIGIN.fullmatch(origin)]:
        raise ValidationError(f"Not an origin such as https://app.example.com: {', '.join(bad)}")


env = Env(eager=False)
# An optional .env file (ENV_FILE names another); real environment variables win over it.
env.read_env(os.environ.get("ENV_FILE", str(BASE_DIR / ".env")), recurse=False, override=False)

DEBUG = env.bool("DEBUG", False)
# The HTTP server (manage.py serve): address, worker processes, threads per worker.
HOST = env.str("HOST", "127.0.0.1")
PORT = env.int("PORT", 8000, validate=Range(min=1, max=65535))
WEB_CONCURRENCY = env.int("WEB_CONCURRENCY", os.cpu_count() or 2, validate=Range(min=1))
WEB_THREADS = env.int("WEB_THREADS", 1, validate=Range(min=1))
STATE_DIR = env.path("STATE_DIR", BASE_DIR / "var")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", [])
_secret_key = env.str("SECRET_KEY", "")
_database_url = env.str("DATABASE_URL", "")
_redis_url = env.str("REDIS_URL", "")
# The read path prepares its statements on the server (api/prepared.py); off for a pooler
# that cannot carry prepared statements (PgBouncer before 1.21 in transaction mode).
_database_prepared_statements = env.bool("DATABASE_PREPARED_STATEMENTS", True)
SIGNUP_OPEN = env.bool("SIGNUP_OPEN", True)
REQUEST_MAX_BYTES = env.int("REQUEST_MAX_BYTES", 1024 * 1024, validate=Range(min=1024))
# Seconds a client has to send a whole request body once its headers are in (api/wsgi.py).
# At least 6: granian stops altogether when a worker it restarted exits again within 5.5 s.
REQUEST_BODY_TIMEOUT = env.int("REQUEST_BODY_TIMEOUT", 20, validate=Range(min=6, max=300))
LOG_LEVEL = env.str("LOG_LEVEL", "INFO", validate=OneOf(["DEBUG", "INFO", "WARNING", "ERROR"]))
# One JSON object per line for log collectors; plain text by default only under DEBUG.
# One access line per request (api.access): off by default, as a reverse proxy usually
# writes them already; error and warning logs are written either way.
ACCESS_LOG = env.bool("ACCESS_LOG", False)
LOG_FORMAT = env.str("LOG_FORMAT", "plain" if DEBUG else "json", validate=OneOf(["json", "plain"]))
LOGIN_RATE = env.str("LOGIN_RATE", "30/min", validate=RATE)  # per client address
LOGIN_USERNAME_RATE = env.str("LOGIN_USERNAME_RATE", "10/min", validate=RATE)  # per account
SIGNUP_RATE = env.str("SIGNUP_RATE", "30/hour", validate=RATE)
SIGNUP_REQUIRE_ACTIVATION = env.bool("SIGNUP_REQUIRE_ACTIVATION", False)
ACTIVATION_TTL = env.int("ACTIVATION_TTL", 2 * 24 * 3600, validate=Range(min=60))
_email = env.dj_email_url("EMAIL_URL", "console://")  # smtp://user:pass@host:587/?tls=True
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "tasks@localhost")
# Proxies in front of us whose X-Forwarded-For may be trusted for the client address (DRF's
# NUM_PROXIES): 0 by default, so throttling keys on REMOTE_ADDR and a client cannot forge it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", 0, validate=Range(min=0))
# Clients reach the service only over HTTPS (see "Security" below and the README).
BEHIND_TLS = env.bool("BEHIND_TLS", False)
HSTS_SECONDS = env.int("HSTS_SECONDS", 365 * 24 * 3600, validate=Range(min=0))
HSTS_INCLUDE_SUBDOMAINS = env.bool("HSTS_INCLUDE_SUBDOMAINS", True)
# Browser origins allowed to call the API (CORS); none by default, so CORS is off.
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", [], validate=_origins)

# JSON Web Tokens: see tokens/keys.py and the README's configuration table.
JWT_ALGORITHM = env.str("JWT_ALGORITHM", "RS256", validate=OneOf(JWT_ALGORITHMS))
JWT_ISSUER = env.str("JWT_ISSUER", "taskservice")
JWT_AUDIENCE = env.str("JWT_AUDIENCE", "taskservice-api")
# The domain part of every task's calendar UID: keep it once calendars have subscribed.
CALENDAR_UID_DOMAIN = env.str("CALENDAR_UID_DOMAIN", "taskservice")
# Days the changes feed keeps deletions and lost access (tasks/changes.py) before
# `manage.py prune_changes` removes them; a sync token from before what it removed answers 410.
SYNC_RETENTION_DAYS = env.int("SYNC_RETENTION_DAYS", 30, validate=Range(min=1))
JWT_ACCESS_TTL = env.int("JWT_ACCESS_TTL", 300, validate=Range(min=1))
JWT_REFRESH_TTL = env.int("JWT_REFRESH_TTL", 14 * 24 * 3600, validate=Range(min=1))
JWT_LEEWAY = env.int("JWT_LEEWAY", 30, validate=Range(min=0, max=300))
# Seconds after a rotation in which the spent refresh token may be presented again (a lost
# response, two tabs) and get a pair, rather than end its session as reuse; 0: never.
JWT_REFRESH_RETRY_SECONDS = env.int("JWT_REFRESH_RETRY_SECONDS", 10, validate=Range(min=0, max=300))
JWT_SECRET = env.str("JWT_SECRET", "")
JWT_PRIVATE_KEY_FILE = env.path("JWT_PRIVATE_KEY_FILE", None)
# OAuth 2.0 clients (tokens/clients.py): the first-party public client, named by logins
# that name none; and how often one confidential client may introspect.
DEFAULT_CLIENT_ID = env.str("DEFAULT_CLIENT_ID", "taskservice", validate=Regexp(r"^[\x21-\x7e]{1,64}$"))
INTROSPECTION_RATE = env.str("INTROSPECTION_RATE", "1200/min", validate=RATE)
# DPoP (RFC 9449, tokens/dpop.py): the algorithms a proof may be signed with (every asymmetric
# one PyJWT verifies, by default), how old a proof may be, and whether a login must carry one.
DPOP_ALGORITHM_CHOICES = [
    name
    for name in (
        *("ES256", "ES384", "ES512", "PS256", "PS384", "PS512"),
        *("RS256", "RS384", "RS512", "EdDSA", "Ed25519"),  # Ed25519: RFC 9864's name, if PyJWT has it
    )
    if name in get_default_algorithms()
]
DPOP_ALGORITHMS = env.list(
    "DPOP_ALGORITHMS",
    DPOP_ALGORITHM_CHOICES,
    validate=[Length(min=1), ContainsOnly(DPOP_ALGORITHM_CHOICES)],
)
DPOP_PROOF_MAX_AGE = env.int("DPOP_PROOF_MAX_AGE", 60, validate=Range(min=1, max=600))
DPOP_REQUIRED = env.bool("DPOP_REQUIRED", False)

# Outbound webhooks and security events (events/sender.py): private, loopback and link-local
# targets are refused unless allowed (a test rig or a closed network); each delivery has one
# deadline, and reads at most so much of a response and keeps an excerpt of it.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", False)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", 5.0, validate=Range(min=0.5, max=60))
WEBHOOK_MAX_RESPONSE_BYTES = env.int(
    "WEBHOOK_MAX_RESPONSE_BYTES", 65536, validate=Range(min=1024, max=16 * 1024 * 1024)
)
WEBHOOK_EXCERPT_BYTES = env.int("WEBHOOK_EXCERPT_BYTES", 1024, validate=Range(min=0, max=65536))

# Events out (events/): the origin the URLs in an event's data are written under (there is
# no request to take them from): the address clients reach the API at.
PUBLIC_URL = env.str("PUBLIC_URL", f"http://{HOST}:{PORT}/", validate=Regexp(r"^https?://[^/?#]+/?$"))
# manage.py serve starts a task worker beside the server (make run, the embedded default);
# a deployment that runs its workers as their own service sets it false (docs/deploy.md).
SERVE_TASK_WORKER = env.bool("SERVE_TASK_WORKER", True)
# How often each task worker looks at the outbox and relays the events waiting
# (manage.py events_worker): an event waits up to this long, plus the worker's poll, to leave.
EVENTS_RELAY_TICK = env.float("EVENTS_RELAY_TICK", 0.2, validate=Range(min=0.01, max=60))
# A task RUNNING longer than this was left by a dead worker and is run again (events/worker.py):
# longer than any task takes (a delivery takes at most WEBHOOK_TIMEOUT).
EVENTS_TASK_STALE_SECONDS = env.int("EVENTS_TASK_STALE_SECONDS", 300, validate=Range(min=5, max=86400))

env.seal()  # raises one error naming every malformed variable
JWT_KEY_DIR = STATE_DIR / "jwt"

SECRET_KEY = (
    _secret_key
    or read_or_create(STATE_DIR / "secret_key", lambda: secrets.token_urlsafe(50).encode()).decode()
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "corsheaders",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "api",
    "users",
    "tokens",
    "projects",
    "tasks",
    "feeds",
    "events",
    "django_tasks",
    "django_tasks_db",
]

# The background tasks (events delivery) on django-tasks' database backend: a task is a row
# in the application's own database, enqueued in the transaction of the change, run by
# `manage.py db_worker` (started beside the server by `make run`).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

MIDDLEWARE = [
    # Outermost, so the id and the access log cover every response, the ones below included.
    "api.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Off means absent: with no allowed origin, no request pays for it. Above anything that
    # answers on its own (413, static files), so browsers can read those answers too.
    *(["corsheaders.middleware.CorsMiddleware"] if CORS_ALLOWED_ORIGINS else []),
    "api.middleware.NoStoreMiddleware",
    "api.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if _database_url:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=600, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with a health check that makes no round trip (api/postgresql).
        DATABASES["default"]["ENGINE"] = "api.postgresql"
        # Django turns psycopg's prepared statements off; the read path's are turned on.
        if _database_prepared_statements:
            DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(STATE_DIR / "db.sqlite3")}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            # WAL lets readers and one writer work at once; IMMEDIATE transactions take the
            # write lock up front, so two writing workers queue on the busy timeout instead
            # of failing with "database is locked" when a read lock cannot be upgraded.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 600
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)

if _redis_url:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url,
            # Fail fast when Redis is away: callers fall back to the database.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Revocation state (tokens/revocation.py). Each worker remembers "this session and user
# are fine" for REVOCATION_LOCAL_TTL seconds; with Redis it then asks Redis, which every
# revocation updates at once and whose entries may live REVOCATION_CACHE_TTL seconds.
# Without Redis it asks the database. Either way a revocation anywhere is honoured
# everywhere within one second.
REVOCATION_SHARED_CACHE = bool(_redis_url)
# Short, so that a Redis that returns from an outage with old entries (persistence on, or
# a network cut) cannot keep a revocation it missed for long.
REVOCATION_CACHE_TTL = 30
REVOCATION_LOCAL_TTL = 0.5 if _redis_url else 1.0

vars().update(_email)  # EMAIL_BACKEND, EMAIL_HOST... from EMAIL_URL

AUTH_USER_MODEL = "users.User"
# ModelBackend with the login limits in front of every password it checks, whatever the door.
AUTHENTICATION_BACKENDS = ["users.passwords.CountedModelBackend"]
PASSWORD_HASHERS = [
    "users.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_REDIRECT_URL = "/"
# Messages are the admin's; the default cookie-then-session storage builds a signer on
# every request, API requests included.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = STATE_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tokens.authentication.BearerTokenAuthentication",
        "users.authentication.SessionCallerAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.KeysetPagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "api.filters.BoundedSearchFilter",
        "api.ordering.BoundedOrderingFilter",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "api.renderers.ORJSONRenderer",
        # Before XML: browsers accept application/xml as much as text/html, and DRF then
        # takes the first renderer that matches.
        "rest_framework.renderers.BrowsableAPIRenderer",
        "api.representations.XMLRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": [
        "api.renderers.ORJSONParser",
        "api.representations.XMLParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "login": LOGIN_RATE,
        "login_username": LOGIN_USERNAME_RATE,
        "signup": SIGNUP_RATE,
        "introspection": INTROSPECTION_RATE,
    },
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "api.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# Collections whose create answers a resource the caller may then read and change: the schema
# links the 201 to the operations on it (api/schema.py). Not /users/: a sign-up makes an
# account of its own, which the caller (anonymous, or another user) may not see.
SCHEMA_LINKED_CREATES = ["/tasks/", "/projects/"]
# Reads of the caller's own resource, and the detail path their answer's id fills: the schema
# links the 200 to the operations on it (api/schema.py).
SCHEMA_LINKED_READS = {"/users/me/": "/users/{id}/"}
SPECTACULAR_SETTINGS = {
    "TITLE": "Task service",
    "DESCRIPTION": "Tasks and users over REST, authenticated with JSON Web Tokens (Bearer). "
    "Every task and user endpoint also answers and accepts application/xml; "
    "GET /tasks/ also answers text/calendar.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A member's role as answered, and the roles a client may set (no one is made owner but
    # by a hand-over): two choice sets of fields named "role".
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "projects.models.Role",
        "SettableRoleEnum": "projects.serializers.SETTABLE_ROLES",
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.postprocess",
        "api.representations.schema_without_format_override",
    ],
    # The API's contract is JSON. The form parsers serve the browsable API's HTML forms, where
    # an empty field means "not given" (HTML's rule), which no schema of the body can state.
    # XML bodies are accepted but not listed: XML cannot carry NUL or tell 123 from "123", so
    # bodies a schema calls invalid arrive valid once written as XML.
    "PARSER_WHITELIST": ["api.renderers.ORJSONParser"],
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Security. BEHIND_TLS says clients reach us only over HTTPS, whoever terminates TLS.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = BEHIND_TLS
# Sent by SecurityMiddleware on requests it sees as secure only, as RFC 6797 §7.2 asks.
SECURE_HSTS_SECONDS = HSTS_SECONDS if BEHIND_TLS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HSTS_INCLUDE_SUBDOMAINS
SECURE_SSL_REDIRECT = BEHIND_TLS
# Load balancers probe the workers directly over plain HTTP; a redirect would fail them.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if BEHIND_TLS and TRUSTED_PROXY_COUNT:
    # A proxy terminates TLS and says which scheme the client used. Believed only from a
    # trusted proxy, which must set (not append to) the header: from anyone else a forged
    # "https" would skip the redirect. Without a proxy, TLS must reach the server itself.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload (W021) is a commitment of a whole registrable domain, made by its owner at
    # hstspreload.org with the apex's own header; a service on a host name cannot make it.
    "security.W021",
]

# CORS, for browser clients on other origins: exactly CORS_ALLOWED_ORIGINS, never any origin.
# No credentials: Bearer tokens travel in a header the caller sets, and cookies must not
# ride along on another site's requests.
CORS_ALLOW_ALL_ORIGINS = False
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (*default_headers, "x-request-id")
CORS_EXPOSE_HEADERS = ["Location", "Retry-After", "WWW-Authenticate", "X-Request-ID"]

# Paths whose next segment is a secret, redacted from every log line (api/logging.py): the
# calendar feeds' URLs (feeds/urls.py).
LOG_SECRET_PATHS = ["/tasks/feed/"]
# Every record reaching the console carries the request id and has tokens redacted (api/logging.py);
# api.access writes one line per request.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "api.logging.RequestIdFilter"},
        "redact": {"()": "api.logging.RedactFilter"},
    },
    "formatters": {
        "json": {"()": "api.logging.JsonFormatter"},
        "plain": {"()": "api.logging.PlainFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "api.access": {"level": "INFO" if ACCESS_LOG else "WARNING"},
    },
}
