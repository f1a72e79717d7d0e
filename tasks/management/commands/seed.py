import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from projects.models import Project
from projects.services import personal_projects_backfill
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
        personal_projects_backfill()  # bulk_create sends no post_save: made here, in two statements
        projects = dict(
            Project.objects.filter(personal=True, owner_id__in=person_ids).values_list("owner_id", "id")
        )
        started = time.perf_counter()
        placements = [(projects[person_id], person_id) for person_id in person_ids]
        self.seed_tasks(placements, tasks, random.Random(random_seed), progress)  # noqa: S311  demo data
        elapsed = time.perf_counter() - started
        progress.close()
        rate = f" in {elapsed:.1f} s ({tasks / elapsed:,.0f} tasks/s)" if tasks else ""
        self.stdout.write(f"seeded: {users} users (password {password!r}), {tasks} tasks{rate}")

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

    def seed_tasks(
        self, placements: list[tuple[int, int]], count: int, rng: random.Random, progress: tqdm
    ) -> None:
        """``count`` tasks spread evenly over ``placements``, each a person and their project."""
        # One INSERT executed over prepared rows: bulk_create builds and validates a model
        # instance per row and ran at about a sixth of the speed here.
        meta = Task._meta
        names = ["title", "project", "person", "due_to", "completed", "recurrence", "created", "updated"]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(meta.get_field(name).column)) for name in names)  # type: ignore[union-attr]
        # Identifiers come from the model, values are bound parameters.
        sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608
        adapt = connection.ops.adapt_datetimefield_value
        now = timezone.now().replace(microsecond=0)
        stamp = adapt(now)
        # Due dates drawn from a pool of up to 2**16 instants, 90 days back to 180 ahead:
        # converting each row's own datetime for the database cost more than the INSERT.
        window = int(timedelta(days=180).total_seconds())
        pool = min(count, 1 << 16)
        dues = [adapt(now + timedelta(seconds=rng.randrange(-window // 2, window))) for _ in range(pool)]
        with connection.cursor() as cursor:
            for start in range(0, count, BATCH):
                size = min(BATCH, count - start)
                rows = [
                    (
                        f"Task {n + 1}",
                        # person by person: the indexes append
                        *placements[n * len(placements) // count],
                        dues[rng.randrange(pool)],
                        rng.random() < 0.2,
                        "",  # no recurrence: the column has no database default
                        stamp,
                        stamp,
                    )
                    for n in range(start, start + size)
                ]
                with transaction.atomic():
                    cursor.executemany(sql, rows)
                progress.update(size)
