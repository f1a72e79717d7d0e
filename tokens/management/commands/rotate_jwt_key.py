"""``manage.py rotate_jwt_key``: make, list and remove the generated JWT keys under JWT_KEY_DIR."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tokens.keys import (
    ALGORITHMS,
    SigningKey,
    build_key_ring,
    generated_key_path,
    generated_keys,
    load_generated_key,
    write_next_generated_key,
)

HELP = """\
Rotate the JWT signing key: write a new generated key (the next <ALG>-<n> file under
JWT_KEY_DIR, mode 0600) and print its kid and algorithm. The newest generated key of the
configured JWT_ALGORITHM signs; every other key keeps verifying until it is removed, so
tokens signed before the rotation stay valid. Running workers see the change within a
second, without a restart. A key of another algorithm (--algorithm ES256 while
JWT_ALGORITHM is RS256) only verifies, and is published in the JWKS, until JWT_ALGORITHM is
set to its algorithm and the service restarted: a way to publish a key before switching to
it. With --list, show every key; with --remove=KID, delete a key that no longer signs
(tokens it signed are refused within a second). Run it with the service's environment.
With JWT_SECRET or JWT_PRIVATE_KEY_FILE set, the signing key is configured, not generated,
and is rotated by replacing it (see the error message).
"""


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser: CommandParser) -> None:
        action = parser.add_mutually_exclusive_group()
        action.add_argument(
            "--algorithm",
            choices=sorted(ALGORITHMS),
            help="the new key's algorithm (default: JWT_ALGORITHM); it signs only if it is JWT_ALGORITHM",
        )
        action.add_argument(
            "--list", dest="list_keys", action="store_true", help="list every key: kid, algorithm, role, file"
        )
        action.add_argument(
            "--remove",
            metavar="KID",
            # A kid is base64url and may begin with "-", which argparse would take for an option.
            help='delete the key named KID (never the signing key); write --remove=KID, as a kid may begin with "-"',
        )

    def handle(
        self, *args: Any, algorithm: str | None, list_keys: bool, remove: str | None, **options: Any
    ) -> None:
        try:
            if list_keys:
                self.list_keys()
            elif remove is not None:
                self.remove_key(remove)
            else:
                self.rotate(algorithm or settings.JWT_ALGORITHM)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc

    def rotate(self, algorithm: str) -> None:
        key_dir = Path(settings.JWT_KEY_DIR)
        if settings.JWT_SECRET or settings.JWT_PRIVATE_KEY_FILE:
            raise CommandError(configured_key_help(key_dir))
        # Building the ring first refuses a broken configuration or key file before we write
        # anything, and makes the first key if there is none, so the new one has a predecessor.
        before = build_key_ring()
        path, key = write_next_generated_key(key_dir, algorithm)
        self.stdout.write(f"new {key.algorithm} key {key.kid} in {path}")
        if algorithm == settings.JWT_ALGORITHM:
            self.stdout.write(
                f"It signs new tokens within a second. The previous signing key {before.signing.kid} and "
                "the older keys keep verifying until removed with --remove=KID."
            )
        else:
            self.stdout.write(
                f"It only verifies, and is published, while JWT_ALGORITHM is {settings.JWT_ALGORITHM}: it "
                f"signs once JWT_ALGORITHM={algorithm} and the service is restarted. "
                f"{before.signing.algorithm} key {before.signing.kid} still signs."
            )

    def list_keys(self) -> None:
        ring = build_key_ring()
        configured = configured_source()
        rows = [("KID", "ALGORITHM", "ROLE", "FILE")]
        for path, key in key_files():
            signs = configured is None and key.kid == ring.signing.kid
            rows.append((key.kid, key.algorithm, "signs" if signs else "verifies", str(path)))
        if configured is not None:
            rows.append((ring.signing.kid, ring.signing.algorithm, "signs", configured))
        widths = [max(len(row[column]) for row in rows) for column in range(3)]
        for kid, algorithm, role, file in rows:
            cells = [kid.ljust(widths[0]), algorithm.ljust(widths[1]), role.ljust(widths[2]), file]
            self.stdout.write("  ".join(cells))

    def remove_key(self, kid: str) -> None:
        ring = build_key_ring()
        if kid == ring.signing.kid:
            configured = configured_source()
            how = f"it comes from {configured}" if configured else "rotate first, then remove it"
            raise CommandError(f"{kid} is the signing key and cannot be removed: {how}.")
        found = [(path, key) for path, key in key_files() if key.kid == kid]
        if not found:
            raise CommandError(f"no key with kid {kid!r} under {settings.JWT_KEY_DIR} (see --list)")
        for path, key in found:  # the same key saved twice would otherwise still verify
            path.unlink(missing_ok=True)
            self.stdout.write(f"removed {key.algorithm} key {kid}: {path}")
        self.stdout.write("Within a second, tokens it signed are refused and the JWKS no longer lists it.")


def key_files() -> list[tuple[Path, SigningKey]]:
    """Every generated key file and its key, oldest first."""
    key_dir = Path(settings.JWT_KEY_DIR)
    return [
        (path, load_generated_key(alg, path)) for _, alg, path in generated_keys(key_dir) if alg in ALGORITHMS
    ]


def configured_source() -> str | None:
    """Where the configured signing key comes from, or None when a generated key signs."""
    if settings.JWT_SECRET:
        return "JWT_SECRET"
    if settings.JWT_PRIVATE_KEY_FILE:
        return f"JWT_PRIVATE_KEY_FILE {settings.JWT_PRIVATE_KEY_FILE}"
    return None


def configured_key_help(key_dir: Path) -> str:
    """How to rotate a signing key that comes from the environment."""
    algorithm: str = settings.JWT_ALGORITHM
    seq = max((seq for seq, _, _ in generated_keys(key_dir)), default=0) + 1
    keep = generated_key_path(key_dir, algorithm, seq)
    if settings.JWT_SECRET:
        variable, save = "JWT_SECRET", f"save the current secret as {keep}"
        replace = "set JWT_SECRET to a new secret and restart the service (the environment is read at start)"
    else:
        variable, save = "JWT_PRIVATE_KEY_FILE", f"copy {settings.JWT_PRIVATE_KEY_FILE} to {keep}"
        replace = (
            f"replace {settings.JWT_PRIVATE_KEY_FILE} with the new PEM private key (write it beside "
            "it, then rename it over it): running workers pick it up within a second"
        )
    return (
        f"The signing key comes from {variable}, so it is rotated by replacing it, not by this "
        f"command. To rotate: {save} (mode 0600) so that tokens it signed keep verifying; then "
        f"{replace}. Keys under {key_dir} keep verifying until removed with --remove=KID. Or unset "
        f"{variable} to use generated keys, which this command rotates."
    )
