"""The project admin: projects and their members changed through projects.services, as the API
changes them."""

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from projects.models import Membership, Project, Role
from projects.signals import membership_ended
from tasks.models import Task
from tests.helpers.projects import Team, personal_project, roles_in
from users.models import User


@pytest.fixture
def ended() -> Iterator[list[tuple[int, int]]]:
    sent: list[tuple[int, int]] = []

    def record(sender: Any, project_id: int, user_id: int, **kwargs: Any) -> None:
        sent.append((project_id, user_id))

    membership_ended.connect(record, dispatch_uid="tests.projects.admin.ended")
    yield sent
    membership_ended.disconnect(dispatch_uid="tests.projects.admin.ended")


def change_form(project: Project, rows: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    """What the change form posts: the project's name and its member rows (the owner aside)."""
    initial = [row for row in rows if row.get("id")]
    form = {
        "name": project.name,
        "memberships-TOTAL_FORMS": str(len(rows)),
        "memberships-INITIAL_FORMS": str(len(initial)),
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, row in enumerate(rows):
        for name, value in row.items():
            form[f"memberships-{n}-{name}"] = value
        form[f"memberships-{n}-project"] = str(project.pk)
    return form


def rows_of(team: Team) -> list[dict[str, Any]]:
    """The inline's rows as they stand: the editor's, then the viewer's."""
    return [
        {
            "id": str(Membership.objects.get(project=team.project, user=team.people[role]).pk),
            "user": str(team.people[role].pk),
            "role": role,
        }
        for role in ("editor", "viewer")
    ]


def test_the_changelist_shows_each_project_with_a_link_to_its_tasks(team: Team, admin_client: Client) -> None:
    response = admin_client.get("/admin/projects/project/")

    assert response.status_code == 200
    assert f"/admin/tasks/task/?project={team.project.pk}".encode() in response.content
    assert b"Launch" in response.content


def test_adding_a_project_makes_its_owner_a_member(owner: User, admin_client: Client) -> None:
    form = {
        "name": "From the admin",
        "owner": str(owner.pk),
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }

    response = admin_client.post("/admin/projects/project/add/", form)

    assert response.status_code == 302, response.content
    project = Project.objects.get(name="From the admin")
    assert (project.owner, project.personal) == (owner, False)
    assert roles_in(project) == {"owner": Role.OWNER}


def test_the_inline_adds_changes_and_removes_members_through_the_services(
    team: Team, admin_client: Client, ended: list[tuple[int, int]]
) -> None:
    editor_row, viewer_row = rows_of(team)
    rows = [
        {**editor_row, "DELETE": "on"},
        {**viewer_row, "role": "editor"},
        {"id": "", "user": str(team.people["stranger"].pk), "role": "viewer"},
    ]

    response = admin_client.post(
        f"/admin/projects/project/{team.project.pk}/change/", change_form(team.project, rows, name="Renamed")
    )

    assert response.status_code == 302, response.content
    assert Project.objects.get(pk=team.project.pk).name == "Renamed"
    assert roles_in(team.project) == {"owner": Role.OWNER, "viewer": Role.EDITOR, "other": Role.VIEWER}
    assert ended == [(team.project.pk, team.people["editor"].pk)]
    assert Task.objects.get(pk=team.task.pk).person == team.people["owner"]  # the editor's task


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ({"id": "", "user": "{owner}", "role": "editor"}, b"Already a member of this project."),
        ({"id": "", "user": "{stranger}", "role": "owner"}, b"Select a valid choice"),
    ],
    ids=["owner-again", "a-second-owner"],
)
def test_the_inline_refuses_a_second_owner_and_a_member_twice(
    team: Team, admin_client: Client, row: dict[str, str], error: bytes
) -> None:
    row = {
        name: value.format(owner=team.people["owner"].pk, stranger=team.people["stranger"].pk)
        for name, value in row.items()
    }
    before = roles_in(team.project)

    response = admin_client.post(
        f"/admin/projects/project/{team.project.pk}/change/", change_form(team.project, [*rows_of(team), row])
    )

    assert response.status_code == 200  # the form again, with the error
    assert error in response.content
    assert roles_in(team.project) == before


def test_the_owner_is_not_a_row_of_the_inline_and_cannot_be_changed_there(
    team: Team, admin_client: Client
) -> None:
    response = admin_client.get(f"/admin/projects/project/{team.project.pk}/change/")

    assert response.status_code == 200
    formset = response.context["inline_admin_formsets"][0].formset
    assert [form.instance.user for form in formset.initial_forms] == [
        team.people["editor"],
        team.people["viewer"],
    ]
    assert "owner" not in response.context["adminform"].form.fields  # read-only: a hand-over is the API's


def test_deleting_a_project_deletes_its_tasks_and_ends_every_membership(
    team: Team, admin_client: Client, ended: list[tuple[int, int]]
) -> None:
    response = admin_client.post(f"/admin/projects/project/{team.project.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Project.objects.filter(pk=team.project.pk).exists()
    assert not Task.objects.filter(pk=team.task.pk).exists()
    assert len(ended) == 3


def test_a_personal_project_cannot_be_deleted_in_the_admin(owner: User, admin_client: Client) -> None:
    project = personal_project(owner)

    response = admin_client.post(f"/admin/projects/project/{project.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert Project.objects.filter(pk=project.pk).exists()


def test_the_bulk_delete_refuses_a_selection_with_a_personal_project(
    owner: User, team: Team, admin_client: Client
) -> None:
    selected = [str(team.project.pk), str(personal_project(owner).pk)]

    response = admin_client.post(
        "/admin/projects/project/", {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
    )

    assert response.status_code == 403  # Django's answer when a selected object may not be deleted
    assert Project.objects.filter(pk__in=selected).count() == 2


def test_the_bulk_delete_of_shared_projects_goes_through_the_service(
    team: Team, admin_client: Client, ended: list[tuple[int, int]]
) -> None:
    response = admin_client.post(
        "/admin/projects/project/",
        {"action": "delete_selected", "_selected_action": [str(team.project.pk)], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Project.objects.filter(pk=team.project.pk).exists()
    assert len(ended) == 3
