"""Password hashing: Argon2id, one lane per hash."""

from django.contrib.auth import hashers


class Argon2PasswordHasher(hashers.Argon2PasswordHasher):
    """Django's Argon2id (100 MiB, 2 passes) computed in one lane, as libsodium's always is.

    Django's default of 8 lanes runs each hash on up to 8 threads. A server has its
    parallelism already, one request per core: lanes there only contend with other
    requests for the same cores and memory bandwidth, so a login's hash took less wall time
    when the server was idle and nothing was gained under load (measured: 2 processes
    hashing reach 9.4 hashes/s with 8 lanes, 8.9 with 1, on 2 cores). With one lane a hash
    costs its wall time in CPU time, and the login's capacity is cores / hash time.
    The cost to an attacker is set by the memory and the passes, which stay Django's.

    Hashes made with other parameters still verify, and are rehashed with these at the
    user's next login (Django's must_update).
    """

    parallelism = 1
