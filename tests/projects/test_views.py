"""/projects/ and /projects/{id}/members/: what each endpoint answers and does (who may is
tests/projects/test_permissions.py's matrix)."""

from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.models import Membership, Project, Role
from projects.services import member_add, project_create
from tasks.models import Task
from tests.helpers.accounts import PASSWORD, client_for
from tests.helpers.projects import (
    DUE,
    Team,
    member_url,
    members_url,
    personal_project,
    project_url,
    roles_in,
    user_url,
)
from users.models import User

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def add_tasks(project: Project, person: User, count: int) -> None:
    Task.objects.bulk_create(
        Task(project=project, person=person, title=f"t{n}", due_to=DUE) for n in range(count)
    )


# /projects/


def test_every_account_has_its_personal_project(owner: User, owner_client: APIClient) -> None:
    response = owner_client.get("/projects/")

    assert response.status_code == 200
    project = personal_project(owner)
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [
            {
                "url": project_url(project),
                "id": project.pk,
                "name": "Personal",
                "owner": user_url(owner),
                "role": "owner",
                "personal": True,
                "members": members_url(project),
                "created": response.json()["results"][0]["created"],
                "updated": response.json()["results"][0]["updated"],
            }
        ],
    }
    assert response.json()["results"][0]["created"].endswith("Z")


def test_the_list_is_paged_by_id_like_every_list_of_the_api(owner: User, owner_client: APIClient) -> None:
    made = [project_create(owner_id=owner.pk, name=f"p{n}") for n in range(3)]
    ids = [personal_project(owner).pk, *(project.pk for project in made)]

    first = owner_client.get("/projects/?page_size=3").json()
    second = owner_client.get(first["next"]).json()

    assert [each["id"] for each in first["results"]] == ids[:3]
    assert [each["id"] for each in second["results"]] == ids[3:]
    assert second["next"] is None
    assert [each["id"] for each in owner_client.get(second["previous"]).json()["results"]] == ids[:3]
    assert owner_client.get("/projects/?page_size=0").status_code == 400


def test_the_list_query_count(owner: User, owner_client: APIClient, django_assert_num_queries: Any) -> None:
    for n in range(5):
        project_create(owner_id=owner.pk, name=f"p{n}")

    # 1: the token's session and user; 2: the page, each row with the caller's role.
    with django_assert_num_queries(2):
        response = owner_client.get("/projects/")

    assert len(response.json()["results"]) == 6


def test_create_answers_201_with_the_location_of_a_project_the_caller_owns(
    owner: User, owner_client: APIClient
) -> None:
    response = owner_client.post("/projects/", {"name": "Garden"})

    assert response.status_code == 201
    project = Project.objects.get(name="Garden")
    assert response["Location"] == project_url(project)
    body = response.json()
    assert (body["id"], body["owner"], body["role"], body["personal"]) == (
        project.pk,
        user_url(owner),
        "owner",
        False,
    )
    assert roles_in(project) == {"owner": Role.OWNER}


def test_create_ignores_the_read_only_fields_sent(owner: User, other: User, owner_client: APIClient) -> None:
    response = owner_client.post("/projects/", {"name": "Garden", "owner": user_url(other), "personal": True})

    assert response.status_code == 201
    project = Project.objects.get(name="Garden")
    assert (project.owner, project.personal) == (owner, False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
    ids=["empty", "blank", "101-chars", "missing", "unknown-field"],
)
def test_create_refuses_a_bad_body(owner_client: APIClient, body: dict[str, Any], field: str) -> None:
    before = Project.objects.count()

    response = owner_client.post("/projects/", body)

    assert response.status_code == 400
    assert field in response.json()
    assert Project.objects.count() == before


# /projects/{id}/


def test_put_of_what_get_returned_with_a_new_name_renames(team: Team, owner_client: APIClient) -> None:
    body = owner_client.get(project_url(team.project)).json()
    body["name"] = "Relaunch"

    response = owner_client.put(project_url(team.project), body)

    assert response.status_code == 200
    assert response.json()["name"] == "Relaunch"
    assert response.json()["updated"] > body["updated"]
    assert Project.objects.get(pk=team.project.pk).name == "Relaunch"


def test_an_unknown_project_and_one_past_any_id_are_404(owner_client: APIClient) -> None:
    for path in ("/projects/999999/", "/projects/" + "9" * 25 + "/", "/projects/999999/members/"):
        response = owner_client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "No such project."}


def test_deleting_a_project_without_tasks_needs_no_confirmation(owner: User, owner_client: APIClient) -> None:
    project = project_create(owner_id=owner.pk, name="Empty")

    response = owner_client.delete(project_url(project))

    assert response.status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Membership.objects.filter(project_id=project.pk).exists()


def test_deleting_a_project_with_tasks_says_how_many_and_how_to_confirm(
    team: Team, owner_client: APIClient
) -> None:
    add_tasks(team.project, team.people["editor"], 2)  # and the team's own: 3

    response = owner_client.delete(project_url(team.project))

    assert response.status_code == 409
    confirm = project_url(team.project) + "?confirm=3"
    assert response.json() == {
        "detail": f"The project holds 3 tasks, which would be deleted with it. To delete the project "
        f"with 3 tasks, send DELETE {confirm}",
        "tasks": 3,
        "confirm": confirm,
    }
    assert Task.objects.filter(project=team.project).count() == 3

    response = owner_client.delete(confirm)

    assert response.status_code == 204
    assert not Project.objects.filter(pk=team.project.pk).exists()
    assert not Task.objects.filter(project_id=team.project.pk).exists()
    assert not Membership.objects.filter(project_id=team.project.pk).exists()


def test_a_confirmation_of_another_number_of_tasks_deletes_nothing(
    team: Team, owner_client: APIClient
) -> None:
    # The client confirmed what it saw; a task added since changes what would go.
    add_tasks(team.project, team.people["owner"], 1)

    response = owner_client.delete(project_url(team.project) + "?confirm=1")

    assert response.status_code == 409
    assert response.json()["tasks"] == 2
    assert response.json()["detail"].startswith("The project holds 2 tasks, not 1: nothing was deleted.")
    assert Task.objects.filter(project=team.project).count() == 2


@pytest.mark.parametrize("confirm", ["", "x", "-1", "1.0", "٣", "9" * 19])
def test_a_confirmation_that_is_no_number_is_400(team: Team, owner_client: APIClient, confirm: str) -> None:
    response = owner_client.delete(project_url(team.project) + f"?confirm={confirm}")

    assert response.status_code == 400
    assert list(response.json()) == ["confirm"]
    assert Project.objects.filter(pk=team.project.pk).exists()


def test_a_personal_project_cannot_be_deleted(owner: User, owner_client: APIClient) -> None:
    project = personal_project(owner)

    response = owner_client.delete(project_url(project) + "?confirm=0")

    assert response.status_code == 409
    assert response.json() == {"detail": "A personal project goes only with its account."}
    assert Project.objects.filter(pk=project.pk).exists()


# Transfer and leave


@pytest.mark.parametrize("by", ["user", "username"])
def test_transfer_makes_a_member_the_owner_and_the_old_owner_an_editor(
    team: Team, owner_client: APIClient, by: str
) -> None:
    viewer = team.people["viewer"]
    body = {"user": user_url(viewer)} if by == "user" else {"username": "viewer"}

    response = owner_client.post(project_url(team.project) + "transfer/", body)

    assert response.status_code == 200
    assert (response.json()["owner"], response.json()["role"]) == (user_url(viewer), "editor")
    assert roles_in(team.project) == {"owner": Role.EDITOR, "editor": Role.EDITOR, "viewer": Role.OWNER}
    assert Project.objects.get(pk=team.project.pk).owner == viewer


def test_transfer_to_someone_not_a_member_is_409(team: Team, owner_client: APIClient) -> None:
    response = owner_client.post(project_url(team.project) + "transfer/", {"username": "other"})

    assert response.status_code == 409
    assert response.json() == {"detail": "The new owner must be a member of the project."}
    assert roles_in(team.project)["owner"] == Role.OWNER


def test_a_personal_project_cannot_be_handed_over(owner: User, other: User, owner_client: APIClient) -> None:
    project = personal_project(owner)
    member_add(project=project, user_id=other.pk, role=Role.EDITOR)

    response = owner_client.post(project_url(project) + "transfer/", {"user": user_url(other)})

    assert response.status_code == 409
    assert response.json() == {"detail": "A personal project stays with its account."}
    assert Project.objects.get(pk=project.pk).owner == owner


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"user": ["Name the user: user (their URL) or username."]}),
        ({"username": "nobody"}, {"username": ["No user has this username."]}),
        (
            {"user": "http://testserver/users/999999/"},
            {"user": ["Invalid hyperlink - Object does not exist."]},
        ),
        (
            {"user": "http://testserver/users/1/", "username": "owner"},
            {"non_field_errors": ["Name the user once: user or username, not both."]},
        ),
        ({"username": "viewer", "role": "owner"}, {"role": ["Unknown field."]}),
    ],
    ids=["nobody-named", "unknown-username", "unknown-url", "both", "unknown-field"],
)
def test_transfer_refuses_a_bad_body(
    team: Team, owner_client: APIClient, body: dict[str, Any], errors: dict[str, Any]
) -> None:
    body = {
        name: value.replace("/users/1/", f"/users/{team.people['owner'].pk}/") for name, value in body.items()
    }

    response = owner_client.post(project_url(team.project) + "transfer/", body)

    assert response.status_code == 400
    assert response.json() == errors
    assert Project.objects.get(pk=team.project.pk).owner == team.people["owner"]


def test_the_owner_leaves_by_naming_a_successor(team: Team, owner_client: APIClient) -> None:
    response = owner_client.post(
        project_url(team.project) + "leave/", {"successor": user_url(team.people["viewer"])}
    )

    assert response.status_code == 204
    assert roles_in(team.project) == {"editor": Role.EDITOR, "viewer": Role.OWNER}
    assert owner_client.get(project_url(team.project)).status_code == 404


def test_the_owner_cannot_leave_to_a_successor_who_is_not_a_member(
    team: Team, owner_client: APIClient
) -> None:
    response = owner_client.post(
        project_url(team.project) + "leave/", {"successor": user_url(team.people["stranger"])}
    )

    assert response.status_code == 409
    assert roles_in(team.project)["owner"] == Role.OWNER


def test_only_the_owner_names_a_successor(team: Team) -> None:
    response = client_for(team.people["editor"]).post(
        project_url(team.project) + "leave/", {"successor": user_url(team.people["viewer"])}
    )

    assert response.status_code == 409
    assert response.json() == {"detail": "Only the owner names a successor: anyone else leaves without one."}
    assert roles_in(team.project)["editor"] == Role.EDITOR


def test_nobody_leaves_their_personal_project(owner: User, owner_client: APIClient) -> None:
    project = personal_project(owner)

    response = owner_client.post(project_url(project) + "leave/")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "A personal project stays with its account: its owner cannot leave it."
    }
    assert roles_in(project) == {"owner": Role.OWNER}


# /projects/{id}/members/


def test_members_are_listed_with_their_url_user_username_and_role(team: Team) -> None:
    response = client_for(team.people["viewer"]).get(members_url(team.project))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [{key: each[key] for key in ("url", "user", "username", "role")} for each in results] == [
        {"url": member_url(team.project, user), "user": user_url(user), "username": name, "role": name}
        for name, user in ((name, team.people[name]) for name in ("owner", "editor", "viewer"))
    ]
    assert all(each["joined"].endswith("Z") for each in results)
    assert (response.json()["next"], response.json()["previous"]) == (None, None)


def test_the_members_list_query_count(team: Team, django_assert_num_queries: Any) -> None:
    client = client_for(team.people["viewer"])

    # 1: the token's session and user; 2: the project, with the caller's role; 3: the page
    # of members with their users.
    with django_assert_num_queries(3):
        response = client.get(members_url(team.project))

    assert len(response.json()["results"]) == 3


@pytest.mark.parametrize("by", ["user", "username"])
def test_adding_a_member_answers_201_with_its_location_and_editor_by_default(
    team: Team, owner_client: APIClient, by: str
) -> None:
    other = team.people["stranger"]
    body = {"user": user_url(other)} if by == "user" else {"username": "other"}

    response = owner_client.post(members_url(team.project), body)

    assert response.status_code == 201
    assert response["Location"] == member_url(team.project, other)
    assert response.json() == {
        "url": member_url(team.project, other),
        "user": user_url(other),
        "username": "other",
        "role": "editor",
        "joined": response.json()["joined"],
    }
    assert roles_in(team.project)["other"] == Role.EDITOR
    assert client_for(other).get(f"/tasks/{team.task.pk}/").status_code == 200


def test_adding_a_viewer(team: Team, owner_client: APIClient) -> None:
    response = owner_client.post(members_url(team.project), {"username": "other", "role": "viewer"})

    assert response.status_code == 201
    assert roles_in(team.project)["other"] == Role.VIEWER


def test_adding_a_member_twice_is_409(team: Team, owner_client: APIClient) -> None:
    response = owner_client.post(members_url(team.project), {"username": "viewer", "role": "editor"})

    assert response.status_code == 409
    assert response.json() == {"detail": "That user is already a member of this project."}
    assert roles_in(team.project)["viewer"] == Role.VIEWER


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "user"),
        ({"username": "nobody"}, "username"),
        ({"username": "inactive"}, "username"),
        ({"user": "http://testserver/users/999999/"}, "user"),
        ({"username": "other", "role": "owner"}, "role"),
        ({"username": "other", "role": "admin"}, "role"),
        ({"username": "other", "colour": "red"}, "colour"),
    ],
    ids=["nobody-named", "unknown", "inactive", "unknown-url", "owner-role", "no-such-role", "unknown-field"],
)
def test_adding_a_member_refuses_a_bad_body(
    team: Team, owner_client: APIClient, body: dict[str, Any], field: str
) -> None:
    User.objects.create_user(username="inactive", password=PASSWORD, is_active=False)
    before = roles_in(team.project)

    response = owner_client.post(members_url(team.project), body)

    assert response.status_code == 400
    assert field in response.json()
    assert roles_in(team.project) == before


def test_the_owner_role_is_refused_with_where_to_hand_over(team: Team, owner_client: APIClient) -> None:
    response = owner_client.patch(member_url(team.project, team.people["editor"]), {"role": "owner"})

    assert response.status_code == 400
    assert response.json() == {
        "role": ["A project has one owner: hand it over with POST /projects/<id>/transfer/."]
    }


def test_patch_of_what_get_returned_with_a_new_role_changes_it(team: Team, owner_client: APIClient) -> None:
    url = member_url(team.project, team.people["editor"])
    body = owner_client.get(url).json()
    body["role"] = "viewer"

    response = owner_client.patch(url, body)

    assert response.status_code == 200
    assert response.json() == {**body, "role": "viewer"}
    assert roles_in(team.project)["editor"] == Role.VIEWER
    # A viewer now: reading the project's tasks, not changing them.
    editor = client_for(team.people["editor"])
    assert editor.get(f"/tasks/{team.task.pk}/").status_code == 200
    assert editor.patch(f"/tasks/{team.task.pk}/", {"completed": True}).status_code == 403


def test_put_on_a_member_is_405(team: Team, owner_client: APIClient) -> None:
    response = owner_client.put(member_url(team.project, team.people["editor"]), {"role": "viewer"})

    assert response.status_code == 405
    assert roles_in(team.project)["editor"] == Role.EDITOR


def test_someone_not_a_member_is_404_under_members(team: Team, owner_client: APIClient) -> None:
    for path in (
        member_url(team.project, team.people["stranger"]),
        members_url(team.project) + "9" * 25 + "/",
    ):
        response = owner_client.get(path)
        assert response.status_code == 404
        assert response.json() == {"detail": "Not a member of this project."}


def test_removing_a_member_gives_their_tasks_there_to_the_owner(team: Team, owner_client: APIClient) -> None:
    editor = team.people["editor"]
    elsewhere = Task.objects.create(person=editor, title="Their own", due_to=DUE)
    before = Task.objects.get(pk=team.task.pk).updated

    response = owner_client.delete(member_url(team.project, editor))

    assert response.status_code == 204
    task = Task.objects.get(pk=team.task.pk)
    assert (task.person, task.project) == (team.people["owner"], team.project)
    assert task.updated > before  # clients syncing the project learn of it
    assert Task.objects.get(pk=elsewhere.pk).person == editor
    assert owner_client.get(member_url(team.project, editor)).status_code == 404


# The browsable API: its forms offer no one the caller does not already see.


@pytest.mark.parametrize(
    "path",
    [
        "/projects/",
        "/projects/{id}/",
        "/projects/{id}/members/",
        "/projects/{id}/members/{editor}/",
        "/projects/{id}/transfer/",
        "/projects/{id}/leave/",
    ],
)
def test_the_browsable_api_shows_every_project_page(team: Team, owner_client: APIClient, path: str) -> None:
    User.objects.create_user(username="unrelated-person", password=PASSWORD)

    response = owner_client.get(
        path.format(id=team.project.pk, editor=team.people["editor"].pk), HTTP_ACCEPT=BROWSER_ACCEPT
    )

    # GET of the two actions: their forms, and a 405 for the method.
    assert response.status_code == (405 if path.endswith(("transfer/", "leave/")) else 200)
    assert response["Content-Type"].startswith("text/html")
    assert b"unrelated-person" not in response.content
