from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from api.views import Router, healthz, readyz
from events.views import WebhookViewSet
from projects.views import ProjectViewSet
from tasks.views import TaskViewSet
from tokens import views as token_views
from users.login_pages import AdminLoginForm, admin_login, admin_password_change
from users.views import ActivateView, UserViewSet

router = Router()
router.register("tasks", TaskViewSet, basename="task")
router.register("users", UserViewSet, basename="user")
router.register("projects", ProjectViewSet, basename="project")
router.register("webhooks", WebhookViewSet, basename="webhook")
auth_router = SimpleRouter()
auth_router.register("auth/sessions", token_views.SessionViewSet, basename="session")

# The admin's pages that check a password count it like every other login (users.passwords).
admin.site.login_form = AdminLoginForm

urlpatterns = [
    # The router first: its routes are the hot ones. Task ids are digits only, so
    # /tasks/export/ and the feed URLs below can never be read as a task.
    path("", include(router.urls)),
    path("", include("tasks.urls")),
    path("", include("projects.urls")),
    path("", include("feeds.urls")),
    path("auth/token/", token_views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", token_views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/token/verify/", token_views.TokenVerifyView.as_view(), name="token-verify"),
    path("auth/activate/", ActivateView.as_view(), name="activate"),
    path("auth/logout/", token_views.LogoutView.as_view(), name="logout"),
    path("auth/introspect/", token_views.IntrospectionView.as_view(), name="introspect"),
    path("auth/revoke/", token_views.RevocationView.as_view(), name="revoke"),
    path("auth/logout-all/", token_views.LogoutAllView.as_view(), name="logout-all"),
    path("", include(auth_router.urls)),
    path(".well-known/jwks.json", token_views.JwksView.as_view(), name="jwks"),
    path(
        ".well-known/oauth-authorization-server",
        token_views.AuthorizationServerMetadataView.as_view(),
        name="oauth-authorization-server",
    ),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/login/", admin_login),
    path("admin/password_change/", admin.site.admin_view(admin_password_change, cacheable=True)),
    path("admin/", admin.site.urls),
    path("api-auth/", include("users.login_pages")),
]

handler400 = "api.exceptions.bad_request"
handler403 = "api.exceptions.permission_denied"
handler404 = "api.exceptions.not_found"
handler500 = "api.exceptions.server_error"
