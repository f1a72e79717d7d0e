from drf_spectacular.authentication import SessionScheme


class SessionCallerScheme(SessionScheme):
    """The browsable API's cookie session, described as drf-spectacular describes DRF's."""

    target_class = "users.authentication.SessionCallerAuthentication"
