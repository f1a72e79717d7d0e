from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from projects.services import personal_project_id
from tasks.models import Task
from tests.helpers.accounts import client_for
from users.models import User

DUE = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def user_url(user: User) -> str:
    return f"http://testserver/users/{user.pk}/"


def task_url(task: Task) -> str:
    return f"http://testserver/tasks/{task.pk}/"


def personal_project_url(user: User) -> str:
    return f"http://testserver/projects/{personal_project_id(user.pk)}/"


def make_task(person: User, title: str = "Buy milk", due_to: datetime = DUE, **fields: Any) -> Task:
    return Task.objects.create(person=person, title=title, due_to=due_to, **fields)


# Creating


def test_create_answers_201_with_location_of_the_new_task(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"})

    assert response.status_code == 201
    body = response.json()
    task = Task.objects.get()
    assert body["id"] == task.pk
    assert body["url"] == f"http://testserver/tasks/{task.pk}/"
    assert response["Location"] == body["url"]
    assert body["title"] == "Buy milk"
    assert body["completed"] is False
    assert task.person == owner


def test_create_binds_the_task_to_the_caller_by_default(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"})

    assert response.json()["person"] == f"http://testserver/users/{owner.pk}/"


def test_create_answers_due_to_in_utc_with_z(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T14:30:00+02:00"})

    assert response.status_code == 201
    assert response.json()["due_to"] == "2030-01-01T12:30:00Z"
    assert Task.objects.get().due_to == datetime(2030, 1, 1, 12, 30, tzinfo=UTC)


def test_create_accepts_a_title_of_100_characters(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", {"title": "x" * 100, "due_to": "2030-01-01T12:00:00Z"})

    assert response.status_code == 201
    assert Task.objects.get().title == "x" * 100


@pytest.mark.parametrize("title", ["", "   ", "x" * 101], ids=["empty", "whitespace", "101-chars"])
def test_create_refuses_a_bad_title(owner_client: APIClient, title: str) -> None:
    response = owner_client.post("/tasks/", {"title": title, "due_to": "2030-01-01T12:00:00Z"})

    assert response.status_code == 400
    assert "title" in response.json()
    assert not Task.objects.exists()


def test_create_refuses_a_due_to_without_offset(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00"})

    assert response.status_code == 400
    assert "due_to" in response.json()
    assert not Task.objects.exists()


@pytest.mark.parametrize("missing", ["title", "due_to"])
def test_create_requires_title_and_due_to(owner_client: APIClient, missing: str) -> None:
    body = {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"}
    del body[missing]

    response = owner_client.post("/tasks/", body)

    assert response.status_code == 400
    assert missing in response.json()


def test_create_refuses_an_unknown_field_by_name(owner_client: APIClient) -> None:
    response = owner_client.post(
        "/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z", "priority": "high"}
    )

    assert response.status_code == 400
    assert response.json() == {"priority": ["Unknown field."]}
    assert not Task.objects.exists()


def test_create_refuses_a_plain_text_body_with_json_415(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", "title=Buy milk", content_type="text/plain")

    assert response.status_code == 415
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert not Task.objects.exists()


# Reading


def test_list_shows_the_callers_tasks_in_due_order(owner: User, owner_client: APIClient) -> None:
    later = make_task(owner, "later", DUE + timedelta(days=1))
    sooner = make_task(owner, "sooner", DUE)

    response = owner_client.get("/tasks/")

    assert response.status_code == 200
    assert [task["id"] for task in response.json()["results"]] == [sooner.pk, later.pk]


def test_detail_shows_the_task(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner, completed=True)

    response = owner_client.get(f"/tasks/{task.pk}/")

    assert response.status_code == 200
    assert response.json() == {
        "url": task_url(task),
        "id": task.pk,
        "title": "Buy milk",
        "project": personal_project_url(owner),
        "person": user_url(owner),
        "due_to": "2030-01-01T12:00:00Z",
        "completed": True,
        "recurrence": None,
        "last_completed": None,
        "created": response.json()["created"],
        "updated": response.json()["updated"],
    }
    assert response.json()["created"].endswith("Z")


def test_unknown_task_is_404(owner_client: APIClient) -> None:
    assert owner_client.get("/tasks/999999/").status_code == 404


# Changing


def test_put_of_what_get_returned_with_a_new_title_works(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)
    body = owner_client.get(f"/tasks/{task.pk}/").json()
    body["title"] = "Buy oat milk"

    response = owner_client.put(f"/tasks/{task.pk}/", body)

    assert response.status_code == 200
    assert response.json()["title"] == "Buy oat milk"
    task.refresh_from_db()
    assert task.title == "Buy oat milk"
    assert task.person == owner
    assert task.due_to == DUE


def test_patch_changes_only_the_fields_sent(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)

    response = owner_client.patch(f"/tasks/{task.pk}/", {"completed": True})

    assert response.status_code == 200
    assert response.json()["completed"] is True
    task.refresh_from_db()
    assert task.completed is True
    assert task.title == "Buy milk"


def test_patch_moves_updated_forward(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)
    Task.objects.filter(pk=task.pk).update(updated=datetime(2020, 1, 1, tzinfo=UTC))

    response = owner_client.patch(f"/tasks/{task.pk}/", {"title": "Renamed"})

    assert response.status_code == 200
    task.refresh_from_db()
    assert task.updated > datetime(2020, 1, 1, tzinfo=UTC)


def test_patch_with_offset_is_answered_in_utc(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)

    response = owner_client.patch(f"/tasks/{task.pk}/", {"due_to": "2030-06-01T09:00:00-05:00"})

    assert response.status_code == 200
    assert response.json()["due_to"] == "2030-06-01T14:00:00Z"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"due_to": "2030-01-01T12:00:00"}, "due_to"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_patch_refuses_bad_data_and_keeps_the_task(
    owner: User, owner_client: APIClient, change: dict[str, str], field: str
) -> None:
    task = make_task(owner)

    response = owner_client.patch(f"/tasks/{task.pk}/", change)

    assert response.status_code == 400
    assert field in response.json()
    task.refresh_from_db()
    assert (task.title, task.due_to) == ("Buy milk", DUE)


def test_delete_answers_204_and_then_the_task_is_gone(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)

    response = owner_client.delete(f"/tasks/{task.pk}/")

    assert response.status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()
    assert owner_client.get(f"/tasks/{task.pk}/").status_code == 404
    assert owner_client.delete(f"/tasks/{task.pk}/").status_code == 404


# Who sees what


def test_unauthenticated_callers_get_401_with_a_bearer_challenge(anon: APIClient, owner: User) -> None:
    task = make_task(owner)

    for response in (
        anon.get("/tasks/"),
        anon.post("/tasks/", {"title": "x", "due_to": "2030-01-01T12:00:00Z"}),
        anon.get(f"/tasks/{task.pk}/"),
    ):
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    assert Task.objects.count() == 1


def test_list_hides_other_users_tasks(owner: User, other: User, other_client: APIClient) -> None:
    make_task(owner)
    mine = make_task(other, "mine")

    response = other_client.get("/tasks/")

    assert [task["id"] for task in response.json()["results"]] == [mine.pk]


def test_another_user_cannot_read_the_owners_task(owner: User, other_client: APIClient) -> None:
    task = make_task(owner)

    assert other_client.get(f"/tasks/{task.pk}/").status_code == 404


def test_another_user_cannot_put_the_owners_task(
    owner: User, owner_client: APIClient, other_client: APIClient
) -> None:
    task = make_task(owner)
    body = owner_client.get(f"/tasks/{task.pk}/").json()
    body["title"] = "Hijacked"

    response = other_client.put(f"/tasks/{task.pk}/", body)

    assert response.status_code == 404
    task.refresh_from_db()
    assert task.title == "Buy milk"


def test_another_user_cannot_patch_the_owners_task(owner: User, other_client: APIClient) -> None:
    task = make_task(owner)

    response = other_client.patch(f"/tasks/{task.pk}/", {"completed": True})

    assert response.status_code == 404
    task.refresh_from_db()
    assert task.completed is False


def test_another_user_cannot_delete_the_owners_task(owner: User, other_client: APIClient) -> None:
    task = make_task(owner)

    response = other_client.delete(f"/tasks/{task.pk}/")

    assert response.status_code == 404
    assert Task.objects.filter(pk=task.pk).exists()


def test_another_user_cannot_create_a_task_bound_to_the_owner(owner: User, other_client: APIClient) -> None:
    response = other_client.post(
        "/tasks/", {"title": "For you", "due_to": "2030-01-01T12:00:00Z", "person": user_url(owner)}
    )

    assert response.status_code == 400
    assert "person" in response.json()
    assert not Task.objects.exists()


def test_answer_for_someone_elses_user_is_the_same_as_for_nobody(
    owner: User, other_client: APIClient
) -> None:
    # Otherwise the error would tell who exists.
    def attempt(person: str) -> Any:
        return other_client.post(
            "/tasks/", {"title": "x", "due_to": "2030-01-01T12:00:00Z", "person": person}
        ).json()

    assert attempt(user_url(owner)) == attempt("http://testserver/users/999999/")


def test_another_user_cannot_move_their_task_to_the_owner(
    owner: User, other: User, other_client: APIClient
) -> None:
    task = make_task(other)

    response = other_client.patch(f"/tasks/{task.pk}/", {"person": user_url(owner)})

    assert response.status_code == 400
    assert "person" in response.json()
    task.refresh_from_db()
    assert task.person == other


def test_a_user_may_name_themselves_as_person(owner: User, owner_client: APIClient) -> None:
    response = owner_client.post(
        "/tasks/", {"title": "x", "due_to": "2030-01-01T12:00:00Z", "person": user_url(owner)}
    )

    assert response.status_code == 201
    assert Task.objects.get().person == owner


def test_staff_see_everyones_tasks(owner: User, other: User, staff_client: APIClient) -> None:
    tasks = [make_task(owner), make_task(other)]

    response = staff_client.get("/tasks/")

    assert sorted(task["id"] for task in response.json()["results"]) == sorted(t.pk for t in tasks)
    assert staff_client.get(f"/tasks/{tasks[0].pk}/").status_code == 200


def test_staff_may_bind_a_task_to_anyone_in_a_project_of_theirs(owner: User, staff_client: APIClient) -> None:
    response = staff_client.post(
        "/tasks/",
        {
            "title": "For owner",
            "due_to": "2030-01-01T12:00:00Z",
            "project": personal_project_url(owner),
            "person": user_url(owner),
        },
    )

    assert response.status_code == 201
    assert response.json()["person"] == user_url(owner)
    assert (Task.objects.get().person, Task.objects.get().project_id) == (
        owner,
        personal_project_id(owner.pk),
    )


def test_staff_may_not_bind_a_task_to_someone_outside_its_project(
    owner: User, staff_client: APIClient
) -> None:
    # Without a project the task goes to staff's personal project, where the owner is no member.
    response = staff_client.post(
        "/tasks/", {"title": "For owner", "due_to": "2030-01-01T12:00:00Z", "person": user_url(owner)}
    )

    assert response.status_code == 400
    assert response.json() == {
        "person": ["Not a member of the task's project: the project's owner adds members."]
    }
    assert not Task.objects.exists()


def test_staff_may_move_a_task_to_someone_else(owner: User, other: User, staff_client: APIClient) -> None:
    task = make_task(owner)

    response = staff_client.patch(
        f"/tasks/{task.pk}/", {"project": personal_project_url(other), "person": user_url(other)}
    )

    assert response.status_code == 200
    task.refresh_from_db()
    assert (task.person, task.project_id) == (other, personal_project_id(other.pk))


def test_a_task_moved_away_disappears_from_its_former_owner(
    owner: User, other: User, staff_client: APIClient, owner_client: APIClient
) -> None:
    task = make_task(owner)
    moved = staff_client.patch(
        f"/tasks/{task.pk}/", {"project": personal_project_url(other), "person": user_url(other)}
    )
    assert moved.status_code == 200

    assert owner_client.get(f"/tasks/{task.pk}/").status_code == 404
    assert client_for(other).get(f"/tasks/{task.pk}/").status_code == 200


# Query counts: the list must not grow with the page (no N+1 on `person`).


@pytest.mark.parametrize("count", [1, 50])
def test_list_query_count_does_not_grow_with_the_page(
    owner: User, owner_client: APIClient, django_assert_num_queries: Any, count: int
) -> None:
    project_id = personal_project_id(owner.pk)
    Task.objects.bulk_create(
        Task(project_id=project_id, person=owner, title=f"t{n}", due_to=DUE) for n in range(count)
    )

    # 1: the token's user; 2: the page (LIMIT page_size + 1, no COUNT).
    with django_assert_num_queries(2):
        response = owner_client.get("/tasks/")

    assert len(response.json()["results"]) == count


def test_detail_query_count(owner: User, owner_client: APIClient, django_assert_num_queries: Any) -> None:
    task = make_task(owner)

    # 1: the token's user; 2: the task.
    with django_assert_num_queries(2):
        response = owner_client.get(f"/tasks/{task.pk}/")

    assert response.status_code == 200


def test_create_query_count(owner: User, owner_client: APIClient, django_assert_num_queries: Any) -> None:
    # 1: the token's user; 2: the caller's personal project, where the task goes; 3: the insert.
    with django_assert_num_queries(3):
        response = owner_client.post("/tasks/", {"title": "Buy milk", "due_to": "2030-01-01T12:00:00Z"})

    assert response.status_code == 201


def test_patch_query_count(owner: User, owner_client: APIClient, django_assert_num_queries: Any) -> None:
    task = make_task(owner)

    # 1: the token's session and user (a cold process memo); 2: the savepoint that holds
    # the row locked; 3: the task (SELECT ... FOR UPDATE); 4: the update; 5: its release.
    with django_assert_num_queries(5):
        response = owner_client.patch(f"/tasks/{task.pk}/", {"completed": True})

    assert response.status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_an_id_past_any_integer_is_404(owner_client: APIClient, method: str) -> None:
    response = getattr(owner_client, method)("/tasks/" + "9" * 25 + "/", {"title": "x"})

    assert response.status_code == 404
    assert "detail" in response.json()


def test_steady_state_query_counts_do_not_grow_with_the_page(
    owner: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    for n in range(120):
        make_task(owner, title=f"t{n}")
    task = Task.objects.filter(person=owner).first()
    assert task is not None
    owner_client.get("/tasks/")  # warms this process's memo of the caller's session

    for page_size in (1, 100, 1000):
        with django_assert_num_queries(1):  # the page; authentication asks nothing
            owner_client.get(f"/tasks/?page_size={page_size}")
    with django_assert_num_queries(1):  # the task
        owner_client.get(f"/tasks/{task.pk}/")
    with django_assert_num_queries(2):  # the caller's personal project; the insert
        response = owner_client.post("/tasks/", {"title": "new", "due_to": "2030-01-01T00:00:00Z"})
    assert response.status_code == 201
