"""``manage.py revoke_client CLIENT_ID``: a client can no longer get, use or check tokens."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens.clients import client_revoke
from tokens.models import Client


class Command(BaseCommand):
    help = "Revoke an OAuth 2.0 client: every session of its tokens ends, and it can get no more."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ended = client_revoke(client_id=options["client_id"])
        except Client.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Revoked client {options['client_id']}; {ended} session(s) ended.")
