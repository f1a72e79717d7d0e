"""``manage.py list_clients``: the registered OAuth 2.0 clients, one JSON object a line."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tokens.models import Client


class Command(BaseCommand):
    help = "List the OAuth 2.0 clients (never their secrets), one JSON object a line; --all includes revoked ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Revoked clients too.")

    def handle(self, *args: Any, **options: Any) -> None:
        clients = Client.objects.all() if options["all"] else Client.objects.filter(revoked__isnull=True)
        for client in clients:
            self.stdout.write(
                json.dumps(
                    {
                        "client_id": client.id,
                        "name": client.name,
                        "confidential": client.confidential,
                        "created": client.created.isoformat(),
                        "revoked": client.revoked.isoformat() if client.revoked else None,
                        "events_url": client.events_url or None,
                    }
                )
            )
