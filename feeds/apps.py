from django.apps import AppConfig


class FeedsConfig(AppConfig):
    """Secret calendar feed URLs: a user's tasks, read-only, for apps that cannot send a Bearer token."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "feeds"

    def ready(self) -> None:
        from feeds import signals  # noqa: F401  feeds end with the account's other credentials
