from django.apps import AppConfig


class TokensConfig(AppConfig):
    name = "tokens"

    def ready(self) -> None:
        from tokens import schema, signals  # noqa: F401  the OpenAPI Bearer scheme; user change and serve handlers
