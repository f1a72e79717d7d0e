import re
from typing import Any

import pytest
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from api.ordering import BoundedOrderingFilter
from tasks.filters import InstantFilter
from tests.helpers.accounts import client_for
from users.models import User


@pytest.fixture
def schema(anon: APIClient) -> dict:  # type: ignore[type-arg]
    response = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema: dict) -> None:  # type: ignore[type-arg]
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document


def test_schema_documents_the_bearer_scheme(schema: dict) -> None:  # type: ignore[type-arg]
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from POST /auth/token/.",
    }
    assert {"bearerAuth": []} in schema["paths"]["/tasks/"]["get"]["security"]


def test_schema_documents_error_responses(schema: dict) -> None:  # type: ignore[type-arg]
    task_list = schema["paths"]["/tasks/"]["get"]["responses"]
    assert {"200", "400", "401"} <= task_list.keys()
    detail = schema["paths"]["/tasks/{id}/"]["get"]["responses"]
    assert {"200", "401", "404"} <= detail.keys()
    login = schema["paths"]["/auth/token/"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= login.keys()


def test_docs_are_served_without_any_cdn(anon: APIClient) -> None:
    response = anon.get("/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    external = re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html)
    assert external == []


def authenticating_operations() -> list[tuple[str, str]]:
    """(path as the schema spells it, method) of every endpoint that reads credentials.

    Whatever the schema's security says, such an endpoint answers a dead or malformed
    Bearer token with a 401 before anything else runs.
    """
    found = []
    for path, _, method, callback in EndpointEnumerator().get_api_endpoints():
        view = callback.cls(**getattr(callback, "initkwargs", {}))
        if view.get_authenticators():
            found.append((re.sub(r"\{pk\}", "{id}", path), method.lower()))
    return found


def test_every_endpoint_that_reads_credentials_documents_401(schema: dict[str, Any]) -> None:
    operations = authenticating_operations()
    documented = [(path, method) for path, method in operations if method in schema["paths"].get(path, {})]

    assert len(documented) > 20  # the enumeration found the API, not nothing
    undocumented = [
        f"{method.upper()} {path}"
        for path, method in documented
        if "401" not in schema["paths"][path][method]["responses"]
    ]
    assert undocumented == []


def test_sign_up_with_a_dead_token_is_the_documented_401(schema: dict[str, Any], owner: User) -> None:
    client = client_for(owner)
    owner.delete()

    response = client.post("/users/", {"username": "newbie", "password": "s3cret-enough-for-tests"})

    assert response.status_code == 401
    assert "401" in schema["paths"]["/users/"]["post"]["responses"]
    # Credentials are optional there: anyone signs up, staff send their token.
    assert {} in schema["paths"]["/users/"]["post"]["security"]
    assert {"bearerAuth": []} in schema["paths"]["/users/"]["post"]["security"]


def query_parameters(schema: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in schema["paths"][path]["get"]["parameters"] if p["in"] == "query"}


def test_filters_marked_empty_means_absent_allow_an_empty_value(schema: dict[str, Any]) -> None:
    parameters = query_parameters(schema, "/tasks/")

    allowing = {name for name, parameter in parameters.items() if parameter.get("allowEmptyValue")}

    assert allowing == {
        "completed",
        "due_after",
        "due_before",
        "overdue",
        "project",
        "person",
        "assigned_to_me",
        "search",
        "ordering",
    }
    assert "x-empty-means-absent" not in str(schema)  # the marker's carrier never reaches the document


def test_the_filters_marker_not_its_name_makes_an_empty_value_allowed(
    anon: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(InstantFilter, "empty_means_absent", False)
    monkeypatch.setattr(BoundedOrderingFilter, "empty_means_absent", False)
    schema = anon.get("/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    parameters = query_parameters(schema, "/tasks/")

    assert "allowEmptyValue" not in parameters["due_after"]
    assert "allowEmptyValue" not in parameters["ordering"]
    assert parameters["completed"]["allowEmptyValue"] is True
