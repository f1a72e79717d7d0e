"""Text fields take strings only, as the OpenAPI document says; DRF's CharField would turn a
number or a boolean into text ("-3.6e+242", "True") and store it."""

import pytest
from rest_framework.test import APIClient

from tasks.models import Task
from users.models import User


@pytest.mark.parametrize("title", [12, -3.6092017851312064e242, True, None, ["a"], {"a": 1}])
def test_a_task_title_must_be_a_string(owner_client: APIClient, owner: User, title: object) -> None:
    created = owner_client.post("/tasks/", {"title": title, "due_to": "2030-01-01T00:00:00Z"}, format="json")
    task = Task.objects.create(person=owner, title="Kept", due_to="2030-01-01T00:00:00Z")
    changed = owner_client.patch(f"/tasks/{task.pk}/", {"title": title}, format="json")

    assert created.status_code == 400
    assert "title" in created.json()
    assert changed.status_code == 400
    assert Task.objects.get(pk=task.pk).title == "Kept"
    assert Task.objects.count() == 1


def test_a_title_in_a_form_or_xml_is_text_and_accepted(owner_client: APIClient) -> None:
    form = owner_client.post("/tasks/", {"title": "12", "due_to": "2030-01-01T00:00:00Z"}, format="multipart")

    assert form.status_code == 201, form.content
    assert form.json()["title"] == "12"


@pytest.mark.django_db
def test_a_username_must_be_a_string(anon: APIClient) -> None:
    response = anon.post("/users/", {"username": 12345, "password": "correct-horse-battery"}, format="json")

    assert response.status_code == 400
    assert "username" in response.json()
    assert not User.objects.filter(username="12345").exists()


@pytest.mark.django_db
def test_a_password_at_login_must_be_a_string(anon: APIClient) -> None:
    response = anon.post("/auth/token/", {"username": "someone", "password": 12345678}, format="json")

    assert response.status_code == 400
    assert "password" in response.json()
