import random
import time
from datetime import timedelta
from typing import Any

from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.utils import timezone
from tqdm import tqdm

from projects.models import Membership, Project, Role
from projects.services import personal_projects_backfill
from tasks.models import Task
from users.models import User

BATCH = 10_000
# In a team, every VIEWER_EVERY-th member (the 10th, the 20th...) is a viewer.
VIEWER_EVERY = 10


def team_role(place: int) -> Role:
    """The role of a team's member at ``place`` (0 for the first)."""
    if place == 0:
        return Role.OWNER
    return Role.VIEWER if (place + 1) % VIEWER_EVERY == 0 else Role.EDITOR


class Command(BaseCommand):
    help = (
        "Bulk demo and benchmark data: users user1..userU (created if missing, all with one "
        "password) and T tasks spread evenly over them, in their personal projects; with "
        "--team-size N, also in the shared project of their team (user1..userN, "
        "userN+1..user2N, ...)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, required=True, help="U: users user1..userU")
        parser.add_argument("--tasks", type=int, required=True, help="T: tasks in all, over the U users")
        parser.add_argument("--password", default="seed-password-1", help="the password of every seeded user")
        parser.add_argument("--random-seed", type=int, default=1, help="for reproducible due dates")
        parser.add_argument(
            "--team-size",
            type=int,
            default=0,
            help="N: users in consecutive teams of up to N (user1..userN, userN+1..user2N, ... among "
            'the users that exist); each team of two or more shares a project "Team K" owned by '
            "its first member, every 10th member a viewer and the others editors; every other task "
            "of an owner or editor goes into it, the rest into their personal project. 0: no teams",
        )

    def handle(
        self,
        *args: Any,
        users: int,
        tasks: int,
        password: str,
        random_seed: int,
        team_size: int,
        **options: Any,
    ) -> None:
        if users < 1 or tasks < 0 or team_size < 0:
            raise CommandError("--users must be at least 1, --tasks and --team-size at least 0")
        progress = tqdm(total=users + tasks, unit="row", disable=options["verbosity"] == 0, file=self.stderr)
        person_ids = self.seed_users(users, password, progress)
        personal_projects_backfill()  # bulk_create sends no post_save: made here, in two statements
        projects = dict(
            Project.objects.filter(personal=True, owner_id__in=person_ids).values_list("owner_id", "id")
        )
        team_projects = self.seed_teams(team_size, users) if team_size > 1 else {}
        started = time.perf_counter()
        placements = [
            (projects[person_id], team_projects.get(person_id), person_id) for person_id in person_ids
        ]
        self.seed_tasks(placements, tasks, random.Random(random_seed), progress)  # noqa: S311  demo data
        elapsed = time.perf_counter() - started
        progress.close()
        rate = f" in {elapsed:.1f} s ({tasks / elapsed:,.0f} tasks/s)" if tasks else ""
        teams = f", {len(set(team_projects.values()))} team projects" if team_projects else ""
        self.stdout.write(f"seeded: {users} users (password {password!r}){teams}, {tasks} tasks{rate}")

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

    def seed_teams(self, size: int, users: int) -> dict[int, int]:
        """The team projects of user1..user``users``, made or completed; the project each
        owner or editor among them puts every other task into (viewers put none).

        A team is user(K*size+1)..user((K+1)*size), of those that exist: seeding user1 alone
        after the others puts user1's tasks into the project of user1..user``size``.
        """
        teams = range((users + size - 1) // size)
        ids = dict(
            User.objects.filter(
                username__in=[f"user{n}" for n in range(1, teams.stop * size + 1)]
            ).values_list("username", "id")
        )
        members = {
            team: [
                ids[name]
                for n in range(team * size + 1, (team + 1) * size + 1)
                if (name := f"user{n}") in ids
            ]
            for team in teams
        }
        members = {team: people for team, people in members.items() if len(people) > 1}
        if not members:
            return {}
        owners = {team: people[0] for team, people in members.items()}
        names = {team: f"Team {team + 1}" for team in members}

        def existing() -> dict[tuple[int, str], int]:
            found = Project.objects.filter(
                personal=False, owner_id__in=owners.values(), name__in=names.values()
            )
            return {(owner, name): pk for owner, name, pk in found.values_list("owner_id", "name", "id")}

        with transaction.atomic():
            known = existing()
            Project.objects.bulk_create(
                [
                    Project(owner_id=owners[team], name=names[team])
                    for team in members
                    if (owners[team], names[team]) not in known
                ],
                batch_size=BATCH,
            )
            known = existing()
            projects = {team: known[owners[team], names[team]] for team in members}
            roles = {
                (team, user_id): team_role(place)
                for team, people in members.items()
                for place, user_id in enumerate(people)
            }
            # Members already in (an earlier seed) keep their membership.
            Membership.objects.bulk_create(
                [
                    Membership(project_id=projects[team], user_id=user_id, role=role)
                    for (team, user_id), role in roles.items()
                ],
                batch_size=BATCH,
                ignore_conflicts=True,
            )
        return {user_id: projects[team] for (team, user_id), role in roles.items() if role != Role.VIEWER}

    def seed_tasks(
        self, placements: list[tuple[int, int | None, int]], count: int, rng: random.Random, progress: tqdm
    ) -> None:
        """``count`` tasks spread evenly over ``placements``, each a person's personal project,
        their team's project (or None) and the person: every other task of a person in a
        team goes into the team's project."""
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
        # (project, person) of the even tasks and of the odd ones.
        spread = (
            [(personal, person) for personal, _, person in placements],
            [(personal if team is None else team, person) for personal, team, person in placements],
        )
        with connection.cursor() as cursor:
            for start in range(0, count, BATCH):
                size = min(BATCH, count - start)
                rows = [
                    (
                        f"Task {n + 1}",
                        # person by person: the indexes append
                        *spread[n % 2][n * len(placements) // count],
                        dues[rng.randrange(pool)],
                        rng.random() < 0.2,
                        "",
                        stamp,
                        stamp,
                    )
                    for n in range(start, start + size)
                ]
                with transaction.atomic():
                    cursor.executemany(sql, rows)
                progress.update(size)
