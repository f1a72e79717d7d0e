"""Feeds as the feed tests use them: created through the API, read as a calendar app reads one."""

from typing import Any
from urllib.parse import urlsplit

from django.http import StreamingHttpResponse
from rest_framework.test import APIClient


def create_feed(client: APIClient, **body: Any) -> dict[str, Any]:
    response = client.post("/tasks/feeds/", body)
    assert response.status_code == 201, response.content
    return response.json()


def feed_path(feed: dict[str, Any]) -> str:
    return urlsplit(feed["feed_url"]).path


def token_of(feed: dict[str, Any]) -> str:
    return feed_path(feed).removeprefix("/tasks/feed/").removesuffix(".ics")


def read_feed(path: str, **headers: str) -> tuple[Any, bytes]:
    """GET a feed as a calendar app does (no credentials): the response and its whole body."""
    response = APIClient().get(path, **headers)
    if isinstance(response, StreamingHttpResponse):
        return response, b"".join(response.streaming_content)
    return response, response.content
