"""The browsable API and the interactive documentation, used as a person would: in a browser."""

import json
import secrets
from urllib.parse import urlsplit

from playwright.sync_api import Page, Request, Response, expect

from soak.http import Http
from tests.helpers.servers import Served, client


def sign_up(http: Http) -> tuple[dict[str, str], str]:
    """A new user made over HTTP: their account as answered, and their password."""
    username = f"browser-{secrets.token_hex(4)}"
    password = "pages-" + secrets.token_urlsafe(12)
    signed_up = http.post("/users/", {"username": username, "password": password})
    assert signed_up.status == 201, signed_up.body
    return signed_up.json(), password


def access_token(http: Http, username: str, password: str) -> str:
    login = http.post("/auth/token/", {"username": username, "password": password})
    assert login.status == 200, login.body
    return str(login.json()["access"])


def log_in(page: Page, base_url: str, username: str, password: str) -> None:
    """Through DRF's login page, which sends the browser on to the browsable /tasks/."""
    page.goto(f"{base_url}/api-auth/login/?next=/tasks/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/tasks/")
    expect(page.get_by_role("heading", name="Task List")).to_be_visible()
    expect(page.locator(".navbar")).to_contain_text(username)  # the logged-in user's menu


def is_post_of_tasks(response: Response) -> bool:
    return response.request.method == "POST" and urlsplit(response.url).path == "/tasks/"


def test_log_in_and_create_a_task_through_the_html_form(served: Served, page: Page) -> None:
    """The form's due date is a text field: an instant needs its offset, which the browser's
    datetime-local widget cannot hold (the API refuses a due date without one)."""
    http = client(served.server.port)
    user, password = sign_up(http)
    log_in(page, served.base_url, user["username"], password)

    form = page.locator("#post-object-form form")
    title = f"Written in a browser {secrets.token_hex(3)}"
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=due_to]").fill("2030-01-02T10:30:00+02:00")
    form.locator("input[name=completed]").check()
    with page.expect_response(is_post_of_tasks) as posted:
        form.get_by_role("button", name="POST").click()
    assert posted.value.status == 201
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")
    expect(page.locator(".response-info")).to_contain_text(title)

    tasks = http.get("/tasks/", token=access_token(http, user["username"], password))
    assert tasks.status == 200
    [task] = tasks.json()["results"]
    assert task["title"] == title
    assert task["person"] == user["url"]
    assert task["due_to"] == "2030-01-02T08:30:00Z"
    assert task["completed"] is True


def test_create_a_task_through_the_raw_data_form(served: Served, page: Page) -> None:
    """The page's other form: JSON typed into "Raw data", sent by the page's script."""
    http = client(served.server.port)
    user, password = sign_up(http)
    log_in(page, served.base_url, user["username"], password)

    title = f"Typed as JSON {secrets.token_hex(3)}"
    page.get_by_role("link", name="Raw data").click()
    raw = page.locator("#post-generic-content-form form")
    expect(raw.locator("select[name=_content_type]")).to_have_value("application/json")
    raw.locator("textarea[name=_content]").fill(
        json.dumps({"title": title, "due_to": "2030-05-06T07:08:09Z"})
    )
    with page.expect_response(is_post_of_tasks) as posted:
        raw.get_by_role("button", name="POST").click()
    assert posted.value.status == 201
    expect(page.locator(".response-info")).to_contain_text("HTTP 201 Created")

    tasks = http.get("/tasks/", token=access_token(http, user["username"], password))
    [task] = tasks.json()["results"]
    assert (task["title"], task["person"], task["due_to"]) == (title, user["url"], "2030-05-06T07:08:09Z")


def test_docs_authorize_with_a_bearer_token_and_list_tasks(served: Served, page: Page) -> None:
    http = client(served.server.port)
    user, password = sign_up(http)
    token = access_token(http, user["username"], password)
    title = f"Listed in the docs {secrets.token_hex(3)}"
    created = http.post("/tasks/", {"title": title, "due_to": "2030-01-02T10:30:00Z"}, token=token)
    assert created.status == 201, created.body

    requested: list[Request] = []
    answered: list[Response] = []
    page.on("request", lambda request: requested.append(request))
    page.on("response", lambda response: answered.append(response))
    page.goto(f"{served.base_url}/docs/")
    operation = page.locator("#operations-tasks-tasks_list")
    expect(operation).to_be_visible()  # Swagger UI ran and read /schema/

    page.locator(".auth-wrapper .btn.authorize").click()
    bearer = page.locator(".modal-ux .auth-container").filter(has_text="bearerAuth")
    bearer.locator("input").fill(token)
    bearer.get_by_role("button", name="Apply credentials").click()
    expect(bearer).to_contain_text("Authorized")
    bearer.get_by_role("button", name="Close").click()
    expect(page.locator(".auth-wrapper .btn.authorize.locked")).to_be_visible()

    operation.locator(".opblock-summary-path").click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(
        lambda r: r.request.method == "GET" and urlsplit(r.url).path == "/tasks/"
    ) as listed:
        operation.get_by_role("button", name="Execute").click()
    # The token, and only the token, made the request someone's: the page holds no session.
    headers = listed.value.request.all_headers()
    assert headers["authorization"] == f"Bearer {token}"
    assert "sessionid" not in headers.get("cookie", "")

    live = operation.locator(".live-responses-table")
    expect(live.locator("tbody .response-col_status")).to_have_text("200")
    expect(live).to_contain_text(title)
    expect(operation.locator(".curl-command")).to_contain_text(f"Authorization: Bearer {token}")

    # Everything the page fetched came from the service itself (no CDN), and came.
    fetched = [r.url for r in requested if not r.url.startswith(("data:", "blob:"))]
    assert [url for url in fetched if not url.startswith(f"{served.base_url}/")] == []
    assets = {url for url in fetched if "/static/" in url}
    assert {url.rsplit("/", 1)[-1] for url in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    assert assets - {r.url for r in answered if r.status == 200} == set()
