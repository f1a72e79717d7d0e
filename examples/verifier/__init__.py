"""A second service that trusts the task service's access tokens (see README.md)."""
