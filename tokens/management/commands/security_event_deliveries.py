"""``manage.py security_event_deliveries``: the latest attempts to push security events, one
JSON object a line, newest first."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tokens.models import SecurityEventDelivery


class Command(BaseCommand):
    help = (
        "List the latest security event deliveries (RFC 8935 pushes), newest first, one JSON object a line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--limit", type=int, default=20, help="How many (default 20).")
        parser.add_argument("--client", help="Only those to this client id.")
        parser.add_argument("--failed", action="store_true", help="Only attempts that were not accepted.")

    def handle(self, *args: Any, **options: Any) -> None:
        deliveries = SecurityEventDelivery.objects.order_by("-attempted", "-pk")
        if options["client"]:
            deliveries = deliveries.filter(client_id=options["client"])
        if options["failed"]:
            deliveries = deliveries.filter(succeeded=False)
        for delivery in deliveries[: max(options["limit"], 0)]:
            self.stdout.write(
                json.dumps(
                    {
                        "attempted": delivery.attempted.isoformat(),
                        "client_id": delivery.client_id,
                        "jti": delivery.jti,
                        "kind": delivery.kind,
                        "reason": delivery.reason,
                        "user_id": delivery.user_id,
                        "session_id": delivery.session_id or None,
                        "attempt": delivery.attempt,
                        "succeeded": delivery.succeeded,
                        "status_code": delivery.status_code,
                        "latency_ms": delivery.latency_ms,
                        "error": delivery.error or None,
                        "next_attempt": delivery.next_attempt.isoformat() if delivery.next_attempt else None,
                    }
                )
            )
