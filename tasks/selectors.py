"""Which tasks a caller may see."""

from django.db.models import QuerySet

from tasks.models import Task
from users.principal import Caller


def task_visible_to(*, user: Caller) -> QuerySet[Task]:
    """Staff see every task; anyone else only the tasks bound to them."""
    tasks = Task.objects.all()
    if user.is_staff:
        return tasks
    return tasks.filter(person_id=user.pk)
