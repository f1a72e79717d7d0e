"""``manage.py rotate_jwt_key``: rotation, listing and removal, seen by the running service.

The command runs in the test's process, as it would beside running workers: nothing here
clears the key ring's cache by hand. Time passes through the fake clock of ``tokens.keys``
instead, and each ``clock.advance()`` is a worker's next look at the key directory.
"""

import os
import stat
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import CommandError, call_command
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.keys import Clock, me, pem, rebuilt_ring, resign, write_key
from tokens import keys
from tokens.keys import generate_key_material, generated_key_path, key_ring, load_generated_key, load_key
from tokens.services import token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_jwt_key", *args, stdout=out)
    return out.getvalue()


def access_kid(user: User) -> str:
    return str(jwt.get_unverified_header(token_pair_issue(user=user)["access"])["kid"])


def published() -> dict[str, str]:
    """kid -> alg of every key in the JWKS."""
    response = APIClient().get("/.well-known/jwks.json")
    assert response.status_code == 200
    return {jwk["kid"]: jwk["alg"] for jwk in response.json()["keys"]}


def test_rotation_signs_new_tokens_and_old_tokens_keep_working(
    ring: Settings, clock: Clock, owner: User
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    old_kid = key_ring().signing.kid
    before = token_pair_issue(user=owner)

    output = rotate()

    [new_path] = [p for p in ring.JWT_KEY_DIR.iterdir() if p.name == "ES256-2.pem"]
    new_kid = load_generated_key("ES256", new_path).kid
    assert f"new ES256 key {new_kid}" in output
    assert new_kid != old_kid
    assert access_kid(owner) == old_kid  # a worker looks at its keys at most once a second
    clock.advance()

    assert access_kid(owner) == new_kid
    assert me(before["access"]) == 200  # signed before the rotation, still verifies
    refreshed = APIClient().post("/auth/token/refresh/", {"refresh": before["refresh"]})
    assert refreshed.status_code == 200, refreshed.content
    assert jwt.get_unverified_header(refreshed.json()["access"])["kid"] == new_kid
    assert published() == {old_kid: "ES256", new_kid: "ES256"}


def test_removed_key_stops_verifying_and_leaves_the_jwks(ring: Settings, clock: Clock, owner: User) -> None:
    ring.JWT_ALGORITHM = "ES256"
    old_kid = key_ring().signing.kid
    old_access = token_pair_issue(user=owner)["access"]
    rotate()
    clock.advance()
    new_access = token_pair_issue(user=owner)["access"]

    output = rotate(f"--remove={old_kid}")

    assert f"removed ES256 key {old_kid}" in output
    assert not generated_key_path(ring.JWT_KEY_DIR, "ES256", 1).exists()
    clock.advance()
    assert me(old_access) == 401
    assert me(new_access) == 200
    assert old_kid not in published()
    assert len(published()) == 1


def test_removing_the_signing_key_is_refused(ring: Settings, clock: Clock) -> None:
    ring.JWT_ALGORITHM = "EdDSA"
    rotate()
    signing = rebuilt_ring().signing

    with pytest.raises(CommandError, match="is the signing key"):
        rotate(f"--remove={signing.kid}")
    assert len(list(ring.JWT_KEY_DIR.iterdir())) == 2


def test_kid_beginning_with_a_dash_can_be_removed(ring: Settings) -> None:
    # A base64url kid begins with "-" one time in 64; "--remove=KID" keeps argparse from
    # taking it for an option.
    ring.JWT_ALGORITHM = "HS256"
    key_ring()
    secret = next(
        secret
        for secret in (f"{n:064d}".encode() for n in range(1000))
        if load_key("HS256", secret, source="test").kid.startswith("-")
    )
    generated_key_path(ring.JWT_KEY_DIR, "HS256", 0).write_bytes(secret)
    kid = load_key("HS256", secret, source="test").kid

    assert f"removed HS256 key {kid}" in rotate(f"--remove={kid}")
    assert not generated_key_path(ring.JWT_KEY_DIR, "HS256", 0).exists()


def test_removing_an_unknown_kid_is_refused(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "EdDSA"
    key_ring()

    with pytest.raises(CommandError, match="no key with kid 'made-up'"):
        rotate("--remove=made-up")
    assert len(list(ring.JWT_KEY_DIR.iterdir())) == 1


def test_new_key_is_numbered_after_every_existing_key_and_private(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "ES256"
    write_key(ring.JWT_KEY_DIR, "ES256", 3)
    write_key(ring.JWT_KEY_DIR, "HS256", 7)  # numbers are shared by every algorithm

    rotate()

    path = generated_key_path(ring.JWT_KEY_DIR, "ES256", 8)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in ring.JWT_KEY_DIR.iterdir()) == ["ES256-3.pem", "ES256-8.pem", "HS256-7.key"]
    assert rebuilt_ring().signing.kid == load_generated_key("ES256", path).kid


def test_rotation_racing_another_one_takes_the_next_number(
    ring: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    key_ring()
    theirs = generate_key_material("ES256")
    real_read_or_create = keys.read_or_create

    def lose_the_first_race(path: Path, make: Any) -> bytes:
        if path.name == "ES256-2.pem":
            path.write_bytes(theirs)  # the other rotation linked its file first
        return real_read_or_create(path, make)

    monkeypatch.setattr(keys, "read_or_create", lose_the_first_race)
    output = rotate()

    assert generated_key_path(ring.JWT_KEY_DIR, "ES256", 2).read_bytes() == theirs
    ours = load_generated_key("ES256", generated_key_path(ring.JWT_KEY_DIR, "ES256", 3))
    assert f"new ES256 key {ours.kid}" in output


def test_list_shows_kid_algorithm_role_and_file(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "HS256"
    rotate()
    rotate("--algorithm", "EdDSA")

    rows = [line.split() for line in rotate("--list").splitlines()]

    assert rows[0] == ["KID", "ALGORITHM", "ROLE", "FILE"]
    files = {Path(row[3]).name: row for row in rows[1:]}
    assert files.keys() == {"HS256-1.key", "HS256-2.key", "EdDSA-3.pem"}
    for name, (kid, algorithm, role, file) in files.items():
        assert kid == load_generated_key(algorithm, Path(file)).kid
        assert name.startswith(f"{algorithm}-")
        assert role == ("signs" if name == "HS256-2.key" else "verifies")


def test_rotation_to_another_algorithm_verifies_until_that_algorithm_is_configured(
    ring: Settings, clock: Clock, owner: User
) -> None:
    # The new key signs only if its algorithm is JWT_ALGORITHM: anything else would change
    # the algorithm behind the operator's back. Until then it verifies and is published.
    ring.JWT_ALGORITHM = "RS256"
    ring.JWT_KEY_DIR.mkdir()
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # 3072 bits is slow
    generated_key_path(ring.JWT_KEY_DIR, "RS256", 1).write_bytes(pem(rsa_key))
    rs256 = key_ring().signing

    output = rotate("--algorithm", "ES256")

    es256 = load_generated_key("ES256", generated_key_path(ring.JWT_KEY_DIR, "ES256", 2))
    assert f"new ES256 key {es256.kid}" in output
    assert "It only verifies" in output
    clock.advance()
    assert access_kid(owner) == rs256.kid
    access = token_pair_issue(user=owner)["access"]
    assert me(resign(access, es256)) == 200
    assert published() == {rs256.kid: "RS256", es256.kid: "ES256"}
    # RFC 8725 §3.1: the ES256 key verifies ES256 only, whatever the token claims.
    assert me(resign(access, rs256, kid=es256.kid)) == 401

    ring.JWT_ALGORITHM = "ES256"  # and a restart
    assert rebuilt_ring().signing.kid == es256.kid
    assert me(access) == 200  # the RS256 key now only verifies


def test_invalid_algorithm_is_refused(ring: Settings) -> None:
    with pytest.raises(CommandError, match="invalid choice"):
        rotate("--algorithm", "none")
    assert not ring.JWT_KEY_DIR.exists()


def test_configured_secret_refuses_rotation_and_says_how(ring: Settings, clock: Clock, owner: User) -> None:
    ring.JWT_ALGORITHM = "HS256"
    ring.JWT_SECRET = "old-" + "s" * 60
    old_access = token_pair_issue(user=owner)["access"]

    with pytest.raises(CommandError, match="comes from JWT_SECRET") as refused:
        rotate()
    assert not ring.JWT_KEY_DIR.exists()

    # Follow the advice: keep the old secret as a generated key, then set a new secret.
    keep = generated_key_path(ring.JWT_KEY_DIR, "HS256", 1)
    assert str(keep) in str(refused.value)
    ring.JWT_KEY_DIR.mkdir()
    keep.write_text(ring.JWT_SECRET)
    ring.JWT_SECRET = "new-" + "s" * 60
    rebuilt_ring()  # the environment is read at start

    assert access_kid(owner) != jwt.get_unverified_header(old_access)["kid"]
    assert me(old_access) == 200
    assert published() == {}  # shared secrets are never published


def test_configured_key_file_refuses_rotation_and_says_how(
    ring: Settings, clock: Clock, owner: User, tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(generate_key_material("ES256"))
    ring.JWT_ALGORITHM = "ES256"
    ring.JWT_PRIVATE_KEY_FILE = key_file
    old_access = token_pair_issue(user=owner)["access"]
    old_kid = key_ring().signing.kid

    with pytest.raises(CommandError, match="comes from JWT_PRIVATE_KEY_FILE") as refused:
        rotate()
    assert not ring.JWT_KEY_DIR.exists()
    with pytest.raises(CommandError, match="is the signing key"):
        rotate(f"--remove={old_kid}")

    # Follow the advice: copy the key among the generated ones, then replace the file.
    keep = generated_key_path(ring.JWT_KEY_DIR, "ES256", 1)
    assert str(keep) in str(refused.value)
    ring.JWT_KEY_DIR.mkdir()
    keep.write_bytes(key_file.read_bytes())
    replacement = tmp_path / "signing.pem.new"
    replacement.write_bytes(generate_key_material("ES256"))
    os.replace(replacement, key_file)
    clock.advance()  # no restart: the file is looked at like the key directory

    new_kid = access_kid(owner)
    assert new_kid != old_kid
    assert me(old_access) == 200
    assert published().keys() == {old_kid, new_kid}
    rows = [line.split() for line in rotate("--list").splitlines()[1:]]
    assert [row[:3] for row in rows] == [[old_kid, "ES256", "verifies"], [new_kid, "ES256", "signs"]]
    assert rows[1][3:] == ["JWT_PRIVATE_KEY_FILE", str(key_file)]
