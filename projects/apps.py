from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    """Projects: the lists tasks live in, shared between members with a role."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "projects"

    def ready(self) -> None:
        from projects import signals  # noqa: F401  every new account gets its personal project
