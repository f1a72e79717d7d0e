"""The events tests' sender: events/sender.py's target_check() and post() replaced, answering
what each test queues and recording what was sent."""

from dataclasses import dataclass, field

import pytest

import events.sender
from events.models import Webhook
from events.sender import Response, TargetRefused
from events.services import webhook_create
from events.tasks import relay_waiting
from tests.helpers.worker import run_due_tasks
from users.models import User


@dataclass
class Sent:
    url: str
    body: bytes
    headers: dict[str, str]


@dataclass
class FakeSender:
    """Answers 200 unless told otherwise (``answers``, in order); refuses *.refused.test."""

    sent: list[Sent] = field(default_factory=list)
    answers: list[Response] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def target_check(self, url: str) -> None:
        self.checked.append(url)
        if ".refused.test" in url:
            raise TargetRefused("it resolves to a private address (10.0.0.1)")

    def post(self, url: str, *, body: bytes, headers: dict[str, str]) -> Response:
        self.sent.append(Sent(url, body, dict(headers)))
        if self.answers:
            return self.answers.pop(0)
        return Response(status=200, latency_ms=12, excerpt="ok", error=None)


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> FakeSender:
    fake = FakeSender()
    monkeypatch.setattr(events.sender, "target_check", fake.target_check)
    monkeypatch.setattr(events.sender, "post", fake.post)
    return fake


def run_worker() -> None:
    """The events waiting relayed, as events_worker does every tick, then every task that is
    due (tests.helpers.worker)."""
    relay_waiting()
    run_due_tasks()


def hook(user: User, *, project_id: int | None = None, events: list[str] | None = None) -> Webhook:
    return webhook_create(
        owner_id=user.pk,
        url="https://receiver.example/hook",
        events=events or ["task.created", "task.updated", "task.deleted"],
        project_id=project_id,
    )


def failing(status: int | None = 500) -> Response:
    return Response(status=status, latency_ms=3, excerpt="no", error=None if status else "timed out")
