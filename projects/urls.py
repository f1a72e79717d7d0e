from django.urls import URLPattern, URLResolver
from rest_framework.routers import SimpleRouter

from projects.views import MemberViewSet

# A project's members, under the project the root router's /projects/ serves.
router = SimpleRouter()
router.register(r"projects/(?P<project_id>[0-9]+)/members", MemberViewSet, basename="project-member")

urlpatterns: list[URLPattern | URLResolver] = [*router.urls]
