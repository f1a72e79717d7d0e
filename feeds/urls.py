from django.urls import URLPattern, URLResolver, re_path
from rest_framework.routers import SimpleRouter

from feeds.views import FeedCalendarView, FeedViewSet

router = SimpleRouter()
router.register("tasks/feeds", FeedViewSet, basename="feed")

urlpatterns: list[URLPattern | URLResolver] = [
    # Any text before ".ics" comes to the view, so that every bad secret gets the same JSON 404.
    re_path(r"^tasks/feed/(?P<token>[^/]*)\.ics$", FeedCalendarView.as_view(), name="feed-calendar"),
    *router.urls,
]
