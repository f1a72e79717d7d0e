"""What the users app tells the apps that hold credentials, without importing them."""

from django.dispatch import Signal

# Every credential of ``user`` has ended: its tokens, sessions and feeds must stop working.
# Sent inside the transaction that bumped ``user.token_generation``, with ``reason``, one of
# the ACCESS_ENDED_* values below; receivers do their part in the same transaction.
access_ended = Signal()

ACCESS_ENDED_PASSWORD = "password"
ACCESS_ENDED_DEACTIVATED = "deactivated"
