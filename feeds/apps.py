from django.apps import AppConfig


class FeedsConfig(AppConfig):
    """Secret calendar feed URLs: a user's tasks, read-only, for apps that cannot send a Bearer token."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "feeds"
