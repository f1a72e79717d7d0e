"""``manage.py create_client NAME [--confidential]``: register an OAuth 2.0 client."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens.clients import client_create

HELP = """\
Register an OAuth 2.0 client and print one JSON object on stdout: {"client_id": ...}, and
for a --confidential client its "client_secret" too. The secret is shown this once and
stored only as a digest: keep it, or revoke the client (revoke_client) and make another.
Public clients (apps that cannot keep a secret) name themselves by client_id alone;
confidential ones (other services) authenticate with the secret, and only they may
introspect tokens.
"""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="What the client is, for people: 'billing service'.")
        parser.add_argument("--confidential", action="store_true", help="A client that keeps a secret.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise CommandError("NAME must be 1 to 100 printable characters.")
        registered = client_create(name=name, confidential=options["confidential"])
        answer = {"client_id": registered.client_id}
        if registered.client_secret is not None:
            answer["client_secret"] = registered.client_secret
        self.stdout.write(json.dumps(answer))
