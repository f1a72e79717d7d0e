"""The task admin: each task's project shown and filtered by, and a person who is a member of it."""

from typing import Any

import pytest
from django.test import Client

from projects.services import personal_project_id
from tasks.admin import TaskAdminForm
from tasks.models import Task
from tests.helpers.projects import DUE, Team, personal_project
from users.models import User


def task_form(task: Task, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "title": task.title,
        "project": str(task.project_id),
        "person": str(task.person_id),
        "due_to_0": task.due_to.strftime("%Y-%m-%d"),
        "due_to_1": task.due_to.strftime("%H:%M:%S"),
        "recurrence": task.recurrence,
    }
    form.update(changes)
    return form


def test_the_changelist_shows_each_tasks_project(team: Team, admin_client: Client) -> None:
    response = admin_client.get("/admin/tasks/task/")

    assert response.status_code == 200
    assert list(response.context["cl"].list_display[:4]) == ["action_checkbox", "id", "title", "project"]
    assert b"Launch" in response.content


def test_the_changelist_filters_by_project_and_names_the_one_chosen(
    team: Team, owner: User, admin_client: Client
) -> None:
    elsewhere = Task.objects.create(
        project=personal_project(owner), person=owner, title="Mine alone", due_to=DUE
    )

    response = admin_client.get(f"/admin/tasks/task/?project={team.project.pk}")

    assert response.status_code == 200
    assert [task.pk for task in response.context["cl"].result_list] == [team.task.pk]
    assert elsewhere.pk not in [task.pk for task in response.context["cl"].result_list]
    [chosen] = [
        spec
        for spec in response.context["cl"].filter_specs
        if getattr(spec, "parameter_name", "") == "project"
    ]
    assert chosen.lookup_choices == [(str(team.project.pk), "Launch")]


def test_the_changelist_filters_personal_from_shared_projects(
    team: Team, owner: User, admin_client: Client
) -> None:
    mine = Task.objects.create(project=personal_project(owner), person=owner, title="Mine alone", due_to=DUE)

    shared = admin_client.get("/admin/tasks/task/?project__personal__exact=0")
    personal = admin_client.get("/admin/tasks/task/?project__personal__exact=1")

    assert [task.pk for task in shared.context["cl"].result_list] == [team.task.pk]
    assert [task.pk for task in personal.context["cl"].result_list] == [mine.pk]


@pytest.mark.parametrize("value", ["abc", "9" * 25, "-1"])
def test_a_project_filter_that_is_no_id_is_the_admins_error_page_not_a_500(
    team: Team, admin_client: Client, value: str
) -> None:
    response = admin_client.get(f"/admin/tasks/task/?project={value}")

    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_a_project_filter_for_no_project_lists_no_task(team: Team, admin_client: Client) -> None:
    response = admin_client.get("/admin/tasks/task/?project=999999")

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_the_form_refuses_a_person_who_is_not_a_member_of_the_project(
    team: Team, admin_client: Client
) -> None:
    response = admin_client.post(
        f"/admin/tasks/task/{team.task.pk}/change/",
        task_form(team.task, person=str(team.people["stranger"].pk)),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "person": ["Not a member of the task's project: add them to it first."]
    }
    assert Task.objects.get(pk=team.task.pk).person == team.people["editor"]


def test_the_form_takes_a_member_as_person(team: Team, admin_client: Client) -> None:
    response = admin_client.post(
        f"/admin/tasks/task/{team.task.pk}/change/",
        task_form(team.task, person=str(team.people["viewer"].pk)),
    )

    assert response.status_code == 302
    assert Task.objects.get(pk=team.task.pk).person == team.people["viewer"]


# The recurrence rule is checked in the admin as the API checks it


def recurrence_form(owner: User, recurrence: str) -> TaskAdminForm:
    data: dict[str, Any] = {
        "title": "Water",
        "person": owner.pk,
        "project": personal_project_id(owner.pk),
        "due_to": "2030-01-07 09:30:00",
        "recurrence": recurrence,
    }
    return TaskAdminForm(data=data)


def test_a_rule_is_stored_in_its_stored_form(owner: User) -> None:
    checked = recurrence_form(owner, "freq=weekly;byday=mo")

    assert checked.is_valid(), checked.errors
    assert checked.cleaned_data["recurrence"] == "FREQ=WEEKLY;BYDAY=MO"


def test_a_rule_the_api_refuses_is_refused(owner: User) -> None:
    checked = recurrence_form(owner, "FREQ=HOURLY")

    assert checked.errors["recurrence"] == ["FREQ=HOURLY is not taken: a task recurs at most daily."]


def test_no_rule_is_none(owner: User) -> None:
    checked = recurrence_form(owner, "")

    assert checked.is_valid(), checked.errors
    assert checked.cleaned_data["recurrence"] == ""
