from django.urls import URLPattern, path

from tasks.transfer import TaskExportView, TaskImportView

urlpatterns: list[URLPattern] = [
    path("tasks/export/", TaskExportView.as_view(), name="task-export"),
    path("tasks/import/", TaskImportView.as_view(), name="task-import"),
]
