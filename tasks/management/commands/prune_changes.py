"""``manage.py prune_changes [--days N]``: forget what the changes feed keeps of deletions and
lost access older than SYNC_RETENTION_DAYS (or N days); run it daily. Sync tokens from before
what it removes answer 410 (tasks/changes.py)."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from tasks.changes import changes_prune


class Command(BaseCommand):
    help = "Remove the changes feed's tombstones and access changes older than SYNC_RETENTION_DAYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="instead of SYNC_RETENTION_DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.SYNC_RETENTION_DAYS if options["days"] is None else options["days"]
        if days < 0:
            raise ValueError("--days is a number of days, 0 or more")
        removed = changes_prune(before=timezone.now() - timedelta(days=days))
        self.stdout.write(f"{removed} removed")
