from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.views import Router, healthz, readyz
from tasks.views import TaskViewSet
from tokens import views as token_views
from users.views import UserViewSet

router = Router()
router.register("tasks", TaskViewSet, basename="task")
router.register("users", UserViewSet, basename="user")

urlpatterns = [
    path("", include(router.urls)),
    path("auth/token/", token_views.TokenObtainView.as_view(), name="token-obtain"),
    path("auth/token/refresh/", token_views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/token/verify/", token_views.TokenVerifyView.as_view(), name="token-verify"),
    path(".well-known/jwks.json", token_views.JwksView.as_view(), name="jwks"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    path("api-auth/", include("rest_framework.urls")),
]

handler400 = "api.exceptions.bad_request"
handler403 = "api.exceptions.permission_denied"
handler404 = "api.exceptions.not_found"
handler500 = "api.exceptions.server_error"
