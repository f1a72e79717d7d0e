"""The browsable API's cookie session, as a Principal like every other caller."""

from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from users.principal import Principal


class SessionCallerAuthentication(SessionAuthentication):
    """DRF's cookie session (the browsable API), yielding a Principal like the tokens do."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        found = super().authenticate(request)
        if found is None:
            return None
        return Principal.of(found[0]), None
