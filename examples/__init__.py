"""Small programs beside the task service, showing how others use it."""
