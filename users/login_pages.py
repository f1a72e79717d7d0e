"""The HTML pages that take a password: the browsable API's login and the admin's login and
password change, with their attempts counted like POST /auth/token/'s (users.passwords).

A spent limit is a form error, answered with 429 and Retry-After.
Included at api-auth/ in place of rest_framework.urls: the browsable API's templates
reverse ``rest_framework:login`` and ``rest_framework:logout``.
"""

from typing import Any, TypeVar

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm, AdminPasswordChangeForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import path, reverse

from users.passwords import password_verify
from users.throttling import PasswordAttemptsExceeded, client_address

_Response = TypeVar("_Response", bound=HttpResponseBase)


def _refusal(exc: PasswordAttemptsExceeded) -> ValidationError:
    return ValidationError(
        "Too many login attempts; try again in %(seconds)d seconds.",
        code="throttled",
        params={"seconds": exc.wait},
    )


class LoginForm(AuthenticationForm):
    """Django's login form; authenticate() may refuse before checking (users.passwords)."""

    throttled: PasswordAttemptsExceeded | None = None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except PasswordAttemptsExceeded as exc:
            self.throttled = exc
            raise _refusal(exc) from exc


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The admin's login form (staff only), counted the same way."""


class PasswordChangeForm(AdminPasswordChangeForm):
    """The admin's password change, with the old password checked through password_verify."""

    throttled: PasswordAttemptsExceeded | None = None

    def __init__(self, *args: Any, address: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.address = address

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        try:
            correct = password_verify(user=self.user, password=old_password, address=self.address)
        except PasswordAttemptsExceeded as exc:
            self.throttled = exc
            raise _refusal(exc) from exc
        if not correct:
            raise ValidationError(self.error_messages["password_incorrect"], code="password_incorrect")
        return old_password


def _too_many(response: _Response, form: Any) -> _Response:
    throttled = getattr(form, "throttled", None)
    if throttled is not None:
        response.status_code = 429  # RFC 6585 §4
        response["Retry-After"] = str(throttled.wait)
    return response


class LoginView(auth_views.LoginView):
    authentication_form = LoginForm
    template_name = "rest_framework/login.html"

    def form_invalid(self, form: Any) -> HttpResponse:
        return _too_many(super().form_invalid(form), form)


class PasswordChangeView(auth_views.PasswordChangeView):
    form_class = PasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "address": client_address(self.request)}

    def form_invalid(self, form: Any) -> HttpResponse:
        return _too_many(super().form_invalid(form), form)


def admin_login(request: HttpRequest) -> HttpResponseBase:
    """AdminSite.login (with AdminLoginForm, its login_form), answering a spent limit with 429."""
    response = admin.site.login(request)
    context = getattr(response, "context_data", None) or {}
    return _too_many(response, context.get("form"))


def admin_password_change(request: HttpRequest) -> HttpResponseBase:
    """AdminSite.password_change with the form above: Django 5.2's names its form in code."""
    request.current_app = admin.site.name
    view = PasswordChangeView.as_view(
        success_url=reverse("admin:password_change_done", current_app=admin.site.name),
        extra_context=admin.site.each_context(request),
    )
    return view(request)


app_name = "rest_framework"
urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
