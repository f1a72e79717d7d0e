import random
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from tqdm import tqdm

from tasks.models import Task
from users.models import User

BATCH = 10_000


class Command(BaseCommand):
    help = (
        "Bulk demo and benchmark data: users user1..userU (created if missing, all with one "
        "password) and T tasks spread evenly over them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, required=True, help="U: users user1..userU")
        parser.add_argument("--tasks", type=int, required=True, help="T: tasks in all, over the U users")
        parser.add_argument("--password", default="seed-password-1", help="the password of every seeded user")
        parser.add_argument("--random-seed", type=int, default=1, help="for reproducible due dates")

    def handle(
        self, *args: Any, users: int, tasks: int, password: str, random_seed: int, **options: Any
    ) -> None:
        if users < 1 or tasks < 0:
            raise CommandError("--users must be at least 1 and --tasks at least 0")
        progress = tqdm(total=users + tasks, unit="row", disable=options["verbosity"] == 0, file=self.stderr)
        person_ids = self.seed_users(users, password, progress)
        self.seed_tasks(person_ids, tasks, random.Random(random_seed), progress)  # noqa: S311  demo data
        progress.close()
        self.stdout.write(f"seeded: {users} users (password {password!r}), {tasks} tasks")

    def seed_users(self, count: int, password: str, progress: tqdm) -> list[int]:
        names = [f"user{n}" for n in range(1, count + 1)]
        encoded = make_password(password)  # hashed once: every seeded user shares it
        for start in range(0, count, BATCH):
            chunk = names[start : start + BATCH]
            with transaction.atomic():
                existing = set(User.objects.filter(username__in=chunk).values_list("username", flat=True))
                User.objects.bulk_create(
                    [User(username=name, password=encoded) for name in chunk if name not in existing],
                    batch_size=BATCH,
                )
            progress.update(len(chunk))
        ids = dict(User.objects.filter(username__in=names).values_list("username", "id"))
        return [ids[name] for name in names]

    def seed_tasks(self, person_ids: list[int], count: int, rng: random.Random, progress: tqdm) -> None:
        now = timezone.now().replace(microsecond=0)
        window = int(timedelta(days=180).total_seconds())
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            batch = [
                Task(
                    title=f"Task {n + 1}",
                    person_id=person_ids[n % len(person_ids)],
                    due_to=now + timedelta(seconds=rng.randrange(-window // 2, window)),
                    completed=rng.random() < 0.2,
                    created=now,
                    updated=now,
                )
                for n in range(start, start + size)
            ]
            with transaction.atomic():
                Task.objects.bulk_create(batch, batch_size=BATCH)
            progress.update(size)
