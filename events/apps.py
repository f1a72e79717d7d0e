from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Events out: what happened to tasks and memberships, delivered to webhooks (Standard
    Webhooks) by django-tasks workers from the database."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "events"
