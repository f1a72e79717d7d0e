from rest_framework.test import APIClient


def test_root_links_every_collection_with_absolute_urls(anon: APIClient) -> None:
    response = anon.get("/")

    assert response.status_code == 200
    assert response.json() == {
        "tasks": "http://testserver/tasks/",
        "users": "http://testserver/users/",
        "projects": "http://testserver/projects/",
        "webhooks": "http://testserver/webhooks/",
    }
