from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The access token, as ``Bearer`` (RFC 6750) or, when bound to a key, as ``DPoP`` (RFC 9449)."""

    target_class = "tokens.authentication.BearerTokenAuthentication"
    name = ["bearerAuth", "dpopAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        return [{name: []} for name in self.name]  # either one, not both

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, str]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": "An access token from POST /auth/token/.",
            },
            {
                "type": "http",
                "scheme": "dpop",
                "description": "A DPoP-bound access token (a login that sent a DPoP proof), with a "
                "fresh proof for each request in the DPoP header (RFC 9449 §7).",
            },
        ]
