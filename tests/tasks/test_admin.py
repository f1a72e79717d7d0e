"""The task admin's form: the recurrence rule is checked there as the API checks it."""

from typing import Any

from projects.services import personal_project_id
from tasks.admin import TaskAdminForm
from users.models import User


def form(owner: User, recurrence: str) -> TaskAdminForm:
    data: dict[str, Any] = {
        "title": "Water",
        "person": owner.pk,
        "project": personal_project_id(owner.pk),
        "due_to": "2030-01-07 09:30:00",
        "recurrence": recurrence,
    }
    return TaskAdminForm(data=data)


def test_a_rule_is_stored_in_its_stored_form(owner: User) -> None:
    checked = form(owner, "freq=weekly;byday=mo")

    assert checked.is_valid(), checked.errors
    assert checked.cleaned_data["recurrence"] == "FREQ=WEEKLY;BYDAY=MO"


def test_a_rule_the_api_refuses_is_refused(owner: User) -> None:
    checked = form(owner, "FREQ=HOURLY")

    assert checked.errors["recurrence"] == ["FREQ=HOURLY is not taken: a task recurs at most daily."]


def test_no_rule_is_none(owner: User) -> None:
    checked = form(owner, "")

    assert checked.is_valid(), checked.errors
    assert checked.cleaned_data["recurrence"] == ""
