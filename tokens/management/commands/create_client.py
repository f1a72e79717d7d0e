"""``manage.py create_client NAME [--confidential [--events-url URL]]``: register an OAuth 2.0 client."""

import json
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import URLValidator
from django.db import transaction

from tokens.clients import client_create
from tokens.models import Client

HELP = """\
Register an OAuth 2.0 client and print one JSON object on stdout: {"client_id": ...}, and
for a --confidential client its "client_secret" too. The secret is shown this once and
stored only as a digest: keep it, or revoke the client (revoke_client) and make another.
Public clients (apps that cannot keep a secret) name themselves by client_id alone;
confidential ones (other services) authenticate with the secret, and only they may
introspect tokens and be pushed security events (RFC 8935) at --events-url when a
session ends.
"""
MAX_URL_LENGTH = 2000  # Client.events_url


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the client is, for people: 'billing service'.")
        parser.add_argument("--confidential", action="store_true", help="A client that keeps a secret.")
        parser.add_argument(
            "--events-url",
            default="",
            help="Where to push this confidential client security events (an absolute http(s) URL).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise CommandError("NAME must be 1 to 100 printable characters.")
        events_url = options["events_url"]
        if events_url:
            if not options["confidential"]:
                # Only a client that authenticates can be told whose sessions ended.
                raise CommandError("--events-url is for --confidential clients only.")
            problem = url_problem(events_url)
            if problem:
                raise CommandError(f"--events-url {problem}")
        with transaction.atomic():
            registered = client_create(name=name, confidential=options["confidential"])
            if events_url:
                Client.objects.filter(pk=registered.client_id).update(events_url=events_url)
        answer = {"client_id": registered.client_id}
        if registered.client_secret is not None:
            answer["client_secret"] = registered.client_secret
        self.stdout.write(json.dumps(answer))


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as an events URL, or None. Where it may point (not loopback or
    private addresses) is checked when a SET is delivered, against what the name resolves to then."""
    if len(url) > MAX_URL_LENGTH:
        return f"must be at most {MAX_URL_LENGTH} characters."
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "must be an absolute http or https URL."
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        return "must not carry a user name or password."
    if parts.fragment:
        return "must not have a fragment."
    return None
