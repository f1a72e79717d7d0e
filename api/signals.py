from django.dispatch import Signal

# Sent by ``manage.py serve`` once, before the server starts and its workers fork, so that
# state every worker must share (generated signing keys) exists before any of them reads it.
# A receiver may return one line saying what it prepared; serve prints it. api knows no app:
# the apps connect here.
before_serving = Signal()
