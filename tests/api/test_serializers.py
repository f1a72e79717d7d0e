"""Serializers whose fields are copied rather than deep-copied (api.serializers.CopiedFieldsMixin)
validate as DRF's own do."""

from typing import Any

import pytest
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from api.serializers import CopiedFieldsMixin
from tasks.serializers import TaskSerializer
from tests.helpers.projects import Team, personal_project, project_url, user_url

pytestmark = pytest.mark.django_db


class DeepCopiedTaskSerializer(TaskSerializer):
    get_fields = serializers.Serializer.get_fields  # DRF's: a deepcopy of the declared fields


def bodies(team: Team) -> list[Any]:
    people = team.people
    launch, stranger = project_url(team.project), project_url(personal_project(people["stranger"]))
    due = "2030-01-02T03:04:05Z"
    return [
        {"title": "plain", "due_to": due},
        {"title": "  trimmed  ", "due_to": "2030-01-02T05:04:05.123456+02:00", "completed": True},
        {"title": "x" * 100, "due_to": due, "recurrence": "rrule:freq=weekly;byday=mo"},
        {"title": "in a project", "due_to": due, "project": launch, "person": user_url(people["editor"])},
        {"title": "x" * 101, "due_to": due},
        {"title": "", "due_to": due},
        {"title": 0, "due_to": due},
        {"title": None, "due_to": None},
        {"title": "naive", "due_to": "2030-01-02T03:04:05"},
        {"title": "not a date", "due_to": "tomorrow"},
        {"title": "rule", "due_to": due, "recurrence": "FREQ=HOURLY"},
        {"title": "rule", "due_to": due, "recurrence": ""},
        {"title": "rule", "due_to": due, "recurrence": None},
        {"title": "unseen project", "due_to": due, "project": stranger},
        {"title": "stranger", "due_to": due, "person": user_url(people["stranger"])},
        {"title": "not a url", "due_to": due, "project": "nowhere"},
        {"title": "typed", "due_to": due, "completed": "maybe"},
        {"title": "unknown", "due_to": due, "colour": "red"},
        {"title": "read only", "due_to": due, "id": 7, "url": "http://testserver/tasks/7/"},
        {},
        [],
        "text",
    ]


def validated(
    serializer_class: type[serializers.Serializer], body: Any, request: Request, **kwargs: Any
) -> Any:  # type: ignore[type-arg]
    serializer = serializer_class(data=body, context={"request": request}, **kwargs)
    valid = serializer.is_valid()
    return valid, dict(serializer.validated_data) if valid else {}, serializer.errors


@pytest.mark.parametrize("partial", [False, True])
def test_copied_fields_validate_as_deep_copied_ones(team: Team, partial: bool) -> None:
    request = Request(APIRequestFactory().post("/tasks/"))
    request.user = team.people["owner"]
    kwargs = {"instance": team.task, "partial": True} if partial else {}

    for body in bodies(team):
        copied = validated(TaskSerializer, body, request, **kwargs)
        assert copied == validated(DeepCopiedTaskSerializer, body, request, **kwargs), body
    assert issubclass(TaskSerializer, CopiedFieldsMixin)


def test_each_serializer_has_fields_of_its_own(team: Team) -> None:
    request = Request(APIRequestFactory().post("/tasks/"))
    request.user = team.people["owner"]
    first, second = (TaskSerializer(data={}, context={"request": request}) for _ in range(2))

    for name, declared in TaskSerializer._declared_fields.items():
        mine, theirs = first.fields[name], second.fields[name]
        assert mine is not theirs
        assert (mine.parent, mine.field_name) == (first, name)
        assert (declared.parent, declared.field_name) == (None, None)  # the declared field stays unbound
        for attribute, value in vars(mine).items():
            if isinstance(value, list | dict):
                assert value is not getattr(theirs, attribute), (name, attribute)
                assert value is not vars(declared).get(attribute), (name, attribute)


def test_a_field_holding_other_objects_is_deep_copied() -> None:
    class Nested(CopiedFieldsMixin, serializers.Serializer):  # type: ignore[type-arg]
        tags = serializers.ListField(child=serializers.CharField(max_length=3))
        name = serializers.CharField()

    first, second = Nested(data={}), Nested(data={})

    assert (
        first.fields["tags"].child is not second.fields["tags"].child
    )  # a field of its own, bound to its list
    assert first.fields["tags"].child.parent is first.fields["tags"]
    assert Nested(data={"tags": ["abcd"], "name": "n"}).is_valid() is False
