"""Representations by content negotiation: JSON by default, XML when asked, the browsable API
for browsers. XML carries what the JSON carries (the same values, as text), writes in XML do
what the same writes in JSON do, and hostile XML is a 400 that changes nothing."""

from typing import Any
from xml.etree import ElementTree

import pytest
from django.conf import settings
from drf_spectacular.settings import patched_settings
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from projects.models import Project
from tasks.models import Task
from tests.helpers.accounts import PASSWORD
from users.models import User

XML = "application/xml"
NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
DUE = "2030-01-01T12:00:00Z"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def read_xml(content: bytes) -> Any:
    """The XML as plain data: elements as dicts, <list-item>s as lists, text as text."""
    return _value(ElementTree.fromstring(content))  # noqa: S314  the server's own answer


def _value(element: ElementTree.Element) -> Any:
    if element.get(NIL) == "true":
        return None
    children = list(element)
    if not children:
        return element.text or ""
    if all(child.tag == "list-item" for child in children):
        return [_value(child) for child in children]
    return {child.tag: _value(child) for child in children}


def as_text(value: Any) -> Any:
    """What a JSON value reads as in XML, where every value is text."""
    if isinstance(value, dict):
        return {key: as_text(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_text(item) for item in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return None if value is None else str(value)


def xml_body(**fields: str | None) -> bytes:
    """A request body: ``<root>`` with one element per field (None: xsi:nil)."""
    root = ElementTree.Element("root", {"xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance"})
    for name, value in fields.items():
        element = ElementTree.SubElement(root, name)
        if value is None:
            element.set("xsi:nil", "true")
        else:
            element.text = value
    return ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)


def send_xml(client: APIClient, method: str, path: str, body: bytes | None, **headers: str) -> Any:
    return getattr(client, method)(path, body, content_type=XML, HTTP_ACCEPT=XML, **headers)


def state() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every task and user row, to show that a refused request changed nothing."""
    return list(Task.objects.order_by("pk").values()), list(User.objects.order_by("pk").values())


def make_task(person: User, title: str = "Buy milk", **fields: Any) -> Task:
    return Task.objects.create(person=person, title=title, due_to=DUE, **fields)


# Choosing the representation


def test_json_stays_the_default_and_its_bytes_do_not_change(owner: User, owner_client: APIClient) -> None:
    make_task(owner)

    answers = [owner_client.get("/tasks/", **headers) for headers in ({}, {"HTTP_ACCEPT": "*/*"})]
    asked = owner_client.get("/tasks/", HTTP_ACCEPT="application/json")

    for answer in answers:
        assert answer["Content-Type"] == "application/json"
        assert answer.content == asked.content
    assert "Accept" in answers[0]["Vary"]  # one URL, several representations: caches must tell them apart


@pytest.mark.parametrize("accept", ["text/html", BROWSER_ACCEPT], ids=["text/html", "a browser's"])
def test_browsers_still_get_the_browsable_api(owner: User, accept: str) -> None:
    make_task(owner, title="Visible in HTML")
    client = APIClient()
    client.force_login(owner)

    response = client.get("/tasks/", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Visible in HTML" in response.content


def test_format_query_parameter_also_chooses_xml(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)

    response = owner_client.get(f"/tasks/{task.pk}/?format=xml")

    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert read_xml(response.content)["id"] == str(task.pk)


# Reading XML: the JSON's values, as text


def test_task_list_in_xml_carries_the_jsons_values(owner: User, owner_client: APIClient) -> None:
    make_task(owner, title="First")
    make_task(owner, title="Second", completed=True)

    as_json = owner_client.get("/tasks/?page_size=1&ordering=title")
    as_xml = owner_client.get("/tasks/?page_size=1&ordering=title", HTTP_ACCEPT=XML)

    assert as_xml.status_code == 200
    assert as_xml["Content-Type"] == "application/xml; charset=utf-8"
    page = read_xml(as_xml.content)
    assert page == as_text(as_json.json())
    assert page["previous"] is None  # null, not the empty string
    assert page["next"].startswith("http://testserver/tasks/?cursor=")
    [task] = page["results"]
    assert task["completed"] == "false"
    assert task["due_to"] == DUE
    assert task["person"] == f"http://testserver/users/{owner.pk}/"


def test_every_listing_in_xml_carries_the_jsons_values(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner, completed=True)

    for path in (
        "/tasks/?completed=true",
        f"/tasks/{task.pk}/",
        "/users/",
        f"/users/{owner.pk}/",
        "/users/me/",
    ):
        as_json = owner_client.get(path)
        as_xml = owner_client.get(path, HTTP_ACCEPT=XML)
        assert as_xml.status_code == 200, path
        assert as_xml["Content-Type"] == "application/xml; charset=utf-8", path
        assert read_xml(as_xml.content) == as_text(as_json.json()), path


def test_an_empty_field_reads_as_the_empty_string(owner: User, owner_client: APIClient) -> None:
    response = owner_client.get("/users/me/", HTTP_ACCEPT=XML)

    assert read_xml(response.content)["first_name"] == ""


def test_text_xml_cannot_carry_is_replaced_and_the_rest_is_exact(
    owner: User, owner_client: APIClient
) -> None:
    # A line break as CR LF survives (a raw CR would be read back as LF); U+0001 cannot be
    # written in XML 1.0 at all, and one such title must not make the whole page unreadable.
    make_task(owner, title="line\r\nnext & <b>ünï</b> \x01 end")

    response = owner_client.get("/tasks/", HTTP_ACCEPT=XML)

    assert response.status_code == 200
    [task] = read_xml(response.content)["results"]
    assert task["title"] == "line\r\nnext & <b>ünï</b> \ufffd end"


def test_a_task_read_in_xml_can_be_put_back_unchanged(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner, title="line\r\nnext & <b>ünï</b>  ")
    read = owner_client.get(f"/tasks/{task.pk}/", HTTP_ACCEPT=XML)

    response = send_xml(owner_client, "put", f"/tasks/{task.pk}/", read.content)

    assert response.status_code == 200
    assert Task.objects.get().title == "line\r\nnext & <b>ünï</b>"


# Writing XML: the same results as the same JSON


def test_create_in_xml_is_the_create_in_json(owner: User, owner_client: APIClient) -> None:
    fields = {"title": "  Buy milk ", "due_to": "2030-01-01T14:30:00+02:00", "completed": "true"}
    as_json = owner_client.post("/tasks/", {**fields, "completed": True})

    as_xml = send_xml(owner_client, "post", "/tasks/", xml_body(**fields))

    assert as_xml.status_code == as_json.status_code == 201
    created = Task.objects.get(pk=int(read_xml(as_xml.content)["id"]))
    assert as_xml["Location"] == f"http://testserver/tasks/{created.pk}/"
    per_request = {"url", "id", "created", "updated"}
    expected = {key: value for key, value in as_text(as_json.json()).items() if key not in per_request}
    assert {
        key: value for key, value in read_xml(as_xml.content).items() if key not in per_request
    } == expected
    assert expected == {
        "title": "Buy milk",
        "due_to": "2030-01-01T12:30:00Z",
        "completed": "true",
        "project": f"http://testserver/projects/{created.project_id}/",
        "person": f"http://testserver/users/{owner.pk}/",
        "recurrence": None,
        "last_completed": None,
    }
    assert (created.title, created.completed, created.person) == ("Buy milk", True, owner)
    assert created.project == Project.objects.get(owner=owner, personal=True)


def test_xml_text_is_read_as_text_not_guessed_into_types(owner_client: APIClient) -> None:
    response = send_xml(owner_client, "post", "/tasks/", xml_body(title="007", due_to=DUE))

    assert response.status_code == 201
    assert Task.objects.get().title == "007"


def test_a_due_to_without_offset_is_refused_in_xml_too(owner_client: APIClient) -> None:
    response = send_xml(owner_client, "post", "/tasks/", xml_body(title="x", due_to="2030-01-01 12:00:00"))

    assert response.status_code == 400
    assert "due_to" in read_xml(response.content)
    assert not Task.objects.exists()


def test_put_and_patch_in_xml(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)
    me = f"http://testserver/users/{owner.pk}/"

    put = send_xml(
        owner_client,
        "put",
        f"/tasks/{task.pk}/",
        xml_body(title="Renamed", person=me, due_to="2031-06-01T08:00:00-04:00", completed="false"),
    )
    assert put.status_code == 200
    assert read_xml(put.content)["due_to"] == "2031-06-01T12:00:00Z"

    patch = send_xml(owner_client, "patch", f"/tasks/{task.pk}/", xml_body(completed="true"))
    assert patch.status_code == 200
    assert read_xml(patch.content)["completed"] == "true"
    task.refresh_from_db()
    assert (task.title, task.person, task.completed) == ("Renamed", owner, True)
    assert task.due_to.isoformat() == "2031-06-01T12:00:00+00:00"


def test_a_nil_element_is_null_as_in_json(owner: User, owner_client: APIClient) -> None:
    task = make_task(owner)

    as_xml = send_xml(owner_client, "patch", f"/tasks/{task.pk}/", xml_body(completed=None))
    as_json = owner_client.patch(f"/tasks/{task.pk}/", {"completed": None})

    assert as_xml.status_code == as_json.status_code == 400
    assert read_xml(as_xml.content) == as_text(as_json.json())


def test_a_task_goes_only_to_a_member_of_its_project_in_xml_too(
    owner: User, other: User, owner_client: APIClient, staff_client: APIClient
) -> None:
    theirs = Project.objects.get(owner=other, personal=True)
    body = xml_body(title="x", due_to=DUE, person=f"http://testserver/users/{other.pk}/")
    into_theirs = xml_body(
        title="x",
        due_to=DUE,
        project=f"http://testserver/projects/{theirs.pk}/",
        person=f"http://testserver/users/{other.pk}/",
    )

    assert send_xml(owner_client, "post", "/tasks/", body).status_code == 400  # not in the owner's project
    assert send_xml(owner_client, "post", "/tasks/", into_theirs).status_code == 400  # a project not theirs
    assert not Task.objects.exists()
    assert (
        send_xml(staff_client, "post", "/tasks/", into_theirs).status_code == 201
    )  # staff keep their powers
    assert (Task.objects.get().person, Task.objects.get().project) == (other, theirs)


@pytest.mark.django_db
def test_sign_up_in_xml(anon: APIClient) -> None:
    response = send_xml(anon, "post", "/users/", xml_body(username="alice", password=PASSWORD, email=""))

    assert response.status_code == 201
    body = read_xml(response.content)
    assert (body["username"], body["email"], body["is_staff"]) == ("alice", "", "false")
    assert "password" not in body
    assert User.objects.get(username="alice").check_password(PASSWORD)


def test_user_put_and_patch_in_xml(owner: User, owner_client: APIClient) -> None:
    put = send_xml(
        owner_client,
        "put",
        f"/users/{owner.pk}/",
        xml_body(username="owner2", email="new@example.com", first_name="Ann", last_name="Lee"),
    )
    assert put.status_code == 200

    # A privilege the caller may not change is refused, in XML as in JSON, and nothing changes.
    refused = send_xml(owner_client, "patch", f"/users/{owner.pk}/", xml_body(email="", is_staff="true"))
    assert refused.status_code == 403
    # An empty element is the empty string: the email is cleared, as JSON's "" clears it.
    patch = send_xml(owner_client, "patch", f"/users/{owner.pk}/", xml_body(email="", is_staff="false"))
    assert patch.status_code == 200
    owner.refresh_from_db()
    assert (owner.username, owner.email, owner.first_name, owner.last_name) == ("owner2", "", "Ann", "Lee")
    assert owner.is_staff is False


# Errors asked for in XML are XML


def test_validation_error_in_xml(owner_client: APIClient) -> None:
    response = send_xml(owner_client, "post", "/tasks/", xml_body(title="x" * 101, due_to=DUE))

    assert response.status_code == 400
    assert response["Content-Type"] == "application/xml; charset=utf-8"
    assert read_xml(response.content) == {"title": ["Ensure this field has no more than 100 characters."]}


def test_missing_credentials_in_xml(owner: User, anon: APIClient) -> None:
    response = anon.get("/tasks/", HTTP_ACCEPT=XML)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert read_xml(response.content) == {"detail": "Authentication credentials were not provided."}


def test_someone_elses_task_is_404_in_xml(owner: User, other: User, owner_client: APIClient) -> None:
    task = make_task(other)

    for method in ("get", "put", "patch", "delete"):
        body = None if method == "get" else xml_body(title="mine")
        response = send_xml(owner_client, method, f"/tasks/{task.pk}/", body)
        assert response.status_code == 404, method
        assert read_xml(response.content) == {"detail": "No Task matches the given query."}, method
    assert Task.objects.get().title == "Buy milk"


def test_unknown_fields_that_are_no_xml_name_are_still_well_formed(owner_client: APIClient) -> None:
    response = owner_client.post(
        "/tasks/", {"title": "x", "due_to": DUE, "1 <bad>": 1, "xmlish": 2}, format="json", HTTP_ACCEPT=XML
    )

    assert response.status_code == 400
    root = ElementTree.fromstring(response.content)  # noqa: S314  the server's own answer
    assert {(field.get("name"), field.findtext("list-item")) for field in root.iter("field")} == {
        ("1 <bad>", "Unknown field."),
        ("xmlish", "Unknown field."),
    }


# Hostile XML: a clean 400, nothing written

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<root><title>&lol4;</title><due_to>2030-01-01T12:00:00Z</due_to><username>&lol4;</username></root>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE root [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<root><title>&secret;</title><due_to>2030-01-01T12:00:00Z</due_to><username>&secret;</username></root>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE root SYSTEM "http://127.0.0.1:9/evil.dtd">
<root><title>x</title><due_to>2030-01-01T12:00:00Z</due_to></root>"""
HOSTILE = {
    "malformed": b"<root><title>x</root>",
    "truncated": b"<root><title>x</title>",
    "not UTF-8": b"<root><title>\xff\xfe</title><due_to>2030-01-01T12:00:00Z</due_to></root>",
    "undefined entity": b"<root><title>&nope;</title></root>",
    "billion laughs": BILLION_LAUGHS,
    "external entity": EXTERNAL_ENTITY,
    "external DTD": EXTERNAL_DTD,
    # Past Python's recursion limit, with fewer elements than the cap on their number.
    "deeply nested": b"<root>" + b"<a>" * 5_000 + b"</a>" * 5_000 + b"</root>",
    "too many elements": b"<root>" + b"<a/>" * 50_000 + b"</root>",
    "not XML": b'{"title": "x"}',
}


@pytest.fixture
def targets(owner: User, owner_client: APIClient, anon: APIClient) -> list[tuple[APIClient, str, str]]:
    task = make_task(owner)
    return [
        (owner_client, "post", "/tasks/"),
        (owner_client, "put", f"/tasks/{task.pk}/"),
        (owner_client, "patch", f"/tasks/{task.pk}/"),
        (anon, "post", "/users/"),
        (owner_client, "patch", f"/users/{owner.pk}/"),
    ]


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_xml_is_a_clean_400_that_changes_nothing(
    targets: list[tuple[APIClient, str, str]], body: bytes
) -> None:
    before = state()

    for client, method, path in targets:
        response = getattr(client, method)(path, body, content_type=XML)
        assert response.status_code == 400, (method, path)
        assert response.json()["detail"].startswith("XML parse error"), (method, path)
        asked_xml = send_xml(client, method, path, body)
        assert asked_xml.status_code == 400, (method, path)
        assert read_xml(asked_xml.content)["detail"].startswith("XML parse error"), (method, path)

    assert state() == before


def test_dtds_are_refused_with_a_plain_reason(owner_client: APIClient) -> None:
    response = owner_client.post("/tasks/", BILLION_LAUGHS, content_type=XML)

    assert response.json() == {"detail": "XML parse error - DTDs and entity declarations are not accepted."}


@pytest.mark.parametrize(
    "body",
    [b"", b"<root>just text</root>", b"<root><list-item>a</list-item></root>", b"<root/>"],
    ids=["empty", "text", "a list", "no fields"],
)
def test_xml_that_is_no_task_is_a_400_that_changes_nothing(owner_client: APIClient, body: bytes) -> None:
    response = owner_client.post("/tasks/", body, content_type=XML)

    assert response.status_code == 400
    assert not Task.objects.exists()


def test_a_huge_title_in_xml_is_refused_by_validation(owner_client: APIClient) -> None:
    response = send_xml(owner_client, "post", "/tasks/", xml_body(title="x" * 500_000, due_to=DUE))

    assert response.status_code == 400
    assert "title" in read_xml(response.content)
    assert not Task.objects.exists()


def test_an_xml_body_over_the_size_limit_is_413(owner_client: APIClient) -> None:
    body = xml_body(title="x" * settings.REQUEST_MAX_BYTES, due_to=DUE)

    response = owner_client.post("/tasks/", body, content_type=XML)

    assert response.status_code == 413
    assert not Task.objects.exists()


# Character encodings (RFC 7303 §3.2)


def test_the_charset_parameter_decides_the_encoding(owner_client: APIClient) -> None:
    body = "<root><title>Zürich ✓</title><due_to>2030-01-01T12:00:00Z</due_to></root>".encode("utf-16")

    response = owner_client.post("/tasks/", body, content_type="application/xml; charset=utf-16")

    assert response.status_code == 201
    assert Task.objects.get().title == "Zürich ✓"


def test_without_charset_the_xml_declaration_decides(owner_client: APIClient) -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><root><title>Zürich</title><due_to>2030-01-01T12:00:00Z</due_to></root>'

    response = owner_client.post("/tasks/", body.encode("latin-1"), content_type=XML)

    assert response.status_code == 201
    assert Task.objects.get().title == "Zürich"


def test_an_unknown_charset_is_a_400(owner_client: APIClient) -> None:
    response = owner_client.post(
        "/tasks/", xml_body(title="x", due_to=DUE), content_type="application/xml; charset=no-such-charset"
    )

    assert response.status_code == 400
    assert not Task.objects.exists()


# Query counts: XML costs no more than JSON


def test_xml_reads_and_writes_make_no_more_queries(
    owner: User, owner_client: APIClient, django_assert_num_queries: Any
) -> None:
    task = make_task(owner)
    # Warms this process's memos of the caller's session and personal project.
    owner_client.post("/tasks/", {"title": "warm", "due_to": DUE})

    with django_assert_num_queries(1):  # the page
        owner_client.get("/tasks/", HTTP_ACCEPT=XML)
    with django_assert_num_queries(1):  # the task
        owner_client.get(f"/tasks/{task.pk}/", HTTP_ACCEPT=XML)
    with django_assert_num_queries(1):  # the insert
        response = send_xml(owner_client, "post", "/tasks/", xml_body(title="new", due_to=DUE))
    assert response.status_code == 201


# The OpenAPI document


@pytest.fixture
def schema(anon: APIClient) -> dict[str, Any]:
    response = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_the_schema_says_every_task_and_user_operation_answers_xml(schema: dict[str, Any]) -> None:
    for path, method, code in [
        ("/tasks/", "get", "200"),
        ("/tasks/", "post", "201"),
        ("/tasks/{id}/", "get", "200"),
        ("/tasks/{id}/", "patch", "200"),
        ("/tasks/{id}/", "get", "404"),
        ("/users/", "get", "200"),
        ("/users/me/", "get", "200"),
    ]:
        content = schema["paths"][path][method]["responses"][code]["content"]
        assert content[XML] == content["application/json"], (path, method, code)


def test_the_schema_says_only_the_task_list_answers_a_calendar(schema: dict[str, Any]) -> None:
    task_list = schema["paths"]["/tasks/"]["get"]
    assert task_list["responses"]["200"]["content"]["text/calendar"] == {"schema": {"type": "string"}}
    assert "Link" in task_list["responses"]["200"]["headers"]
    assert "text/calendar" not in task_list["responses"]["400"]["content"]  # errors come in JSON
    assert [p["name"] for p in task_list["parameters"]].count("cursor") == 1  # still a paged list
    assert task_list["operationId"] == "tasks_list"
    for path, method in [("/tasks/{id}/", "get"), ("/users/", "get"), ("/tasks/", "post")]:
        for response in schema["paths"][path][method]["responses"].values():
            assert "text/calendar" not in response.get("content", {}), (path, method)


def test_the_format_override_is_left_out_of_the_schema(anon: APIClient) -> None:
    hooks = list(settings.SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])
    hook = "api.representations.schema_without_format_override"
    with patched_settings({"POSTPROCESSING_HOOKS": [*hooks, hook] if hook not in hooks else hooks}):
        response = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    document = response.json()

    validate_schema(document)
    parameters = {
        (path, method): [parameter["name"] for parameter in operation.get("parameters", [])]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    # Only an operation whose own parameter is called format keeps it: the export's archive.
    assert [where for where, names in parameters.items() if "format" in names] == [("/tasks/export/", "get")]
    assert "cursor" in parameters[("/tasks/", "get")]
    assert XML in document["paths"]["/tasks/"]["get"]["responses"]["200"]["content"]
