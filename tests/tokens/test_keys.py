"""The key ring: every algorithm end to end, generated keys, configured keys, the JWKS."""

import logging
import stat
import threading
from io import StringIO
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.accounts import PASSWORD
from tests.helpers.keys import Clock, me, pem, rebuilt_ring, resign, write_key
from tokens import keys
from tokens.keys import (
    ALGORITHMS,
    HMAC_ALGORITHMS,
    build_key_ring,
    find_verifying_key,
    generate_key_material,
    generated_key_path,
    jwk_thumbprint,
    jws_algorithm,
    key_ring,
    load_generated_key,
)
from tokens.services import token_pair_issue
from users.models import User

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}  # RFC 7518 §6.3.2, §6.4.1


@pytest.fixture(scope="module")
def rsa_2048() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Counter:
    """Wraps a function of ``tokens.keys`` and counts its calls."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls = 0
        self.wrapped = getattr(keys, name)
        monkeypatch.setattr(keys, name, self)

    def __call__(self) -> Any:
        self.calls += 1
        return self.wrapped()


def test_algorithms_are_the_documented_ones() -> None:
    # API.md: "HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA can be chosen",
    # and "JWT_ALGORITHM=Ed25519 (RFC 9864's name) works beside EdDSA".
    documented = {f"{family}{bits}" for family in ("HS", "RS", "PS", "ES") for bits in (256, 384, 512)}

    assert documented | {"EdDSA", "Ed25519"} == ALGORITHMS
    assert set(django_settings.JWT_ALGORITHMS) == ALGORITHMS  # what JWT_ALGORITHM may name


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_algorithm_works_end_to_end(
    ring: Settings, owner: User, anon: APIClient, algorithm: str
) -> None:
    ring.JWT_ALGORITHM = algorithm
    if algorithm in HMAC_ALGORITHMS:
        ring.JWT_SECRET = "s" * 64

    login = anon.post("/auth/token/", {"username": owner.username, "password": PASSWORD})
    assert login.status_code == 200, login.content
    access = login.json()["access"]
    header = jwt.get_unverified_header(access)
    assert header["alg"] == algorithm
    assert header["kid"] == key_ring().signing.kid

    me = APIClient().get("/users/me/", HTTP_AUTHORIZATION=f"Bearer {access}")
    assert me.status_code == 200, me.content
    assert me.json()["username"] == owner.username

    jwks = anon.get("/.well-known/jwks.json")
    assert jwks.status_code == 200
    if algorithm in HMAC_ALGORITHMS:
        assert jwks.json() == {"keys": []}  # a shared secret is never published
        return
    [jwk] = jwks.json()["keys"]
    assert jwk["kid"] == header["kid"]
    assert jwk["alg"] == algorithm
    assert jwk["use"] == "sig"
    assert not PRIVATE_JWK_MEMBERS & jwk.keys()
    if algorithm in ("EdDSA", "Ed25519"):
        assert (jwk["kty"], jwk["crv"]) == ("OKP", "Ed25519")  # RFC 8037 §2
    # The published key is the one that verifies our tokens (RFC 7517 §4.5: kid matching).
    claims = jwt.decode(
        access,
        jws_algorithm(algorithm).from_jwk(jwk),
        algorithms=[algorithm],
        audience=ring.JWT_AUDIENCE,
        issuer=ring.JWT_ISSUER,
    )
    assert claims["sub"] == str(owner.pk)


@pytest.mark.parametrize("algorithm", ["HS256", "ES256", "EdDSA", "Ed25519"])
def test_generated_key_is_private_and_survives_a_rebuild(ring: Settings, algorithm: str) -> None:
    ring.JWT_ALGORITHM = algorithm
    first = key_ring().signing

    path = generated_key_path(ring.JWT_KEY_DIR, algorithm, 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0
    assert rebuilt_ring().signing.kid == first.kid
    assert [p.name for p in ring.JWT_KEY_DIR.iterdir()] == [path.name]  # no temporary file left


def test_token_survives_a_rebuild_of_the_ring(ring: Settings, owner: User) -> None:
    ring.JWT_ALGORITHM = "ES256"
    access = token_pair_issue(user=owner)["access"]

    rebuilt_ring()  # as after a restart

    assert APIClient().get("/users/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 200


def test_newest_generated_key_signs_and_older_ones_still_verify(ring: Settings, owner: User) -> None:
    ring.JWT_ALGORITHM = "ES256"
    ring.JWT_KEY_DIR.mkdir()
    for seq in (2, 10):  # 10 is the newer, though "ES256-10" sorts before "ES256-2" as text
        generated_key_path(ring.JWT_KEY_DIR, "ES256", seq).write_bytes(generate_key_material("ES256"))
    newest = serialization.load_pem_private_key(
        generated_key_path(ring.JWT_KEY_DIR, "ES256", 10).read_bytes(), password=None
    )
    assert isinstance(newest, ec.EllipticCurvePrivateKey)

    signing = key_ring().signing
    assert signing.public.public_numbers() == newest.public_key().public_numbers()
    assert jwt.get_unverified_header(token_pair_issue(user=owner)["access"])["kid"] == signing.kid

    # A token the older key signed before the rotation still verifies, and both keys are published.
    [older] = [key for key in key_ring().verifying.values() if key.kid != signing.kid]
    assert me(resign(token_pair_issue(user=owner)["access"], older)) == 200
    assert {jwk["kid"] for jwk in key_ring().public_jwks()["keys"]} == {signing.kid, older.kid}


def test_configured_private_key_file_signs(
    ring: Settings, tmp_path: Path, rsa_2048: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem(rsa_2048))
    ring.JWT_ALGORITHM = "RS256"
    ring.JWT_PRIVATE_KEY_FILE = key_file

    signing = key_ring().signing

    assert signing.public.public_numbers() == rsa_2048.public_key().public_numbers()
    assert signing.kid == jwk_thumbprint(signing.public_jwk() or {})  # RFC 7638 §3 thumbprint as kid
    assert not ring.JWT_KEY_DIR.exists()  # nothing generated when a key is given


@pytest.mark.parametrize("algorithm", ["EdDSA", "Ed25519"])
def test_configured_ed25519_key_file_signs_under_its_algorithm(
    ring: Settings, tmp_path: Path, owner: User, algorithm: str
) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem(private))
    ring.JWT_ALGORITHM = algorithm
    ring.JWT_PRIVATE_KEY_FILE = key_file

    access = token_pair_issue(user=owner)["access"]

    signing = key_ring().signing
    assert signing.public.public_bytes_raw() == private.public_key().public_bytes_raw()
    assert jwt.get_unverified_header(access) == {"alg": algorithm, "kid": signing.kid, "typ": "at+jwt"}
    assert me(access) == 200
    [jwk] = APIClient().get("/.well-known/jwks.json").json()["keys"]
    assert jwk == {
        **jws_algorithm(algorithm).to_jwk(private.public_key(), as_dict=True),
        "kid": signing.kid,
        "alg": algorithm,
        "use": "sig",
    }


def test_an_ed448_key_signs_for_eddsa_only(ring: Settings, tmp_path: Path, owner: User) -> None:
    # RFC 8037 §3.1: "EdDSA" takes either curve; RFC 9864's "Ed25519" names its curve.
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem(ed448.Ed448PrivateKey.generate()))
    ring.JWT_PRIVATE_KEY_FILE = key_file
    ring.JWT_ALGORITHM = "EdDSA"
    assert me(token_pair_issue(user=owner)["access"]) == 200

    ring.JWT_ALGORITHM = "Ed25519"
    with pytest.raises(ImproperlyConfigured, match="does not fit Ed25519"):
        rebuilt_ring()


def test_a_generated_ed25519_file_holding_an_ed448_key_is_refused(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "Ed25519"
    ring.JWT_KEY_DIR.mkdir()
    generated_key_path(ring.JWT_KEY_DIR, "Ed25519", 1).write_bytes(pem(ed448.Ed448PrivateKey.generate()))

    with pytest.raises(ImproperlyConfigured, match="does not fit Ed25519"):
        rebuilt_ring()


def test_pyjwts_ed25519_takes_no_other_key() -> None:
    # Registered by tokens.keys under RFC 9864's name: the curve is the algorithm's, so even
    # a caller of PyJWT that hands it an Ed448 key cannot sign or verify with it as Ed25519.
    ed448_key = ed448.Ed448PrivateKey.generate()
    algorithm = jws_algorithm("Ed25519")

    with pytest.raises(jwt.InvalidKeyError):
        jwt.encode({"sub": "1"}, ed448_key, algorithm="Ed25519")
    with pytest.raises(jwt.InvalidKeyError):
        algorithm.prepare_key(ed448_key.public_key())
    with pytest.raises(jwt.InvalidKeyError):
        algorithm.from_jwk(jws_algorithm("EdDSA").to_jwk(ed448_key.public_key()))
    ed25519_key = ed25519.Ed25519PrivateKey.generate()
    token = jwt.encode({"sub": "1"}, ed25519_key, algorithm="Ed25519")
    assert jwt.decode(token, ed25519_key.public_key(), algorithms=["Ed25519"]) == {"sub": "1"}


# Keys that do not fit are refused at start-up, not at the first token.


# RFC 7518 §3.2: a key of the same size as the hash output or larger.
@pytest.mark.parametrize(("algorithm", "minimum"), [("HS256", 32), ("HS384", 48), ("HS512", 64)])
def test_short_hmac_secret_is_refused(ring: Settings, algorithm: str, minimum: int) -> None:
    ring.JWT_ALGORITHM = algorithm
    ring.JWT_SECRET = "s" * (minimum - 1)
    with pytest.raises(ImproperlyConfigured, match="JWT_SECRET"):
        rebuilt_ring()

    ring.JWT_SECRET = "s" * minimum
    assert rebuilt_ring().signing.algorithm == algorithm


@pytest.mark.parametrize(
    ("algorithm", "make"),
    [
        ("RS256", lambda rsa_key: ec.generate_private_key(ec.SECP256R1())),
        ("PS256", lambda rsa_key: ed25519.Ed25519PrivateKey.generate()),
        ("ES256", lambda rsa_key: rsa_key),
        ("ES256", lambda rsa_key: ec.generate_private_key(ec.SECP384R1())),
        ("ES512", lambda rsa_key: ec.generate_private_key(ec.SECP256R1())),
        ("EdDSA", lambda rsa_key: ec.generate_private_key(ec.SECP256R1())),
        ("Ed25519", lambda rsa_key: ed448.Ed448PrivateKey.generate()),
        ("Ed25519", lambda rsa_key: ec.generate_private_key(ec.SECP256R1())),
        ("ES256", lambda rsa_key: ed25519.Ed25519PrivateKey.generate()),
    ],
    ids=[
        "EC-for-RS256",
        "Ed25519-for-PS256",
        "RSA-for-ES256",
        "P384-for-ES256",
        "P256-for-ES512",
        "EC-for-EdDSA",
        "Ed448-for-Ed25519",
        "EC-for-Ed25519",
        "Ed25519-for-ES256",
    ],
)
def test_private_key_of_the_wrong_type_is_refused(
    ring: Settings, tmp_path: Path, rsa_2048: rsa.RSAPrivateKey, algorithm: str, make: Any
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem(make(rsa_2048)))
    ring.JWT_ALGORITHM = algorithm
    ring.JWT_PRIVATE_KEY_FILE = key_file

    with pytest.raises(ImproperlyConfigured, match="does not fit"):
        rebuilt_ring()


def test_1024_bit_rsa_key_is_refused(ring: Settings, tmp_path: Path) -> None:
    # RFC 7518 §3.3: 2048 bits or larger.
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)))  # noqa: S505  must be refused
    ring.JWT_ALGORITHM = "RS256"
    ring.JWT_PRIVATE_KEY_FILE = key_file

    with pytest.raises(ImproperlyConfigured, match="does not fit"):
        rebuilt_ring()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(lambda key: b"not a key at all\n", id="text"),
        pytest.param(lambda key: b"", id="empty"),
        pytest.param(
            lambda key: key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            id="der",
        ),
        pytest.param(
            lambda key: key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            id="public-key",
        ),
        pytest.param(lambda key: pem(key, password=b"hunter2"), id="encrypted"),
    ],
)
def test_file_that_is_not_an_unencrypted_pem_private_key_is_refused(
    ring: Settings, tmp_path: Path, rsa_2048: rsa.RSAPrivateKey, content: Any
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(content(rsa_2048))
    ring.JWT_ALGORITHM = "RS256"
    ring.JWT_PRIVATE_KEY_FILE = key_file

    with pytest.raises(ImproperlyConfigured, match="not an unencrypted PEM private key"):
        rebuilt_ring()


def test_corrupt_generated_key_is_refused(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "ES256"
    ring.JWT_KEY_DIR.mkdir()
    generated_key_path(ring.JWT_KEY_DIR, "ES256", 1).write_bytes(b"garbage")

    with pytest.raises(ImproperlyConfigured):
        rebuilt_ring()


def test_serve_makes_the_generated_key_before_the_server_starts(
    ring: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    key_file = generated_key_path(ring.JWT_KEY_DIR, "ES256", 1)
    existed_at_exec = []
    monkeypatch.setattr("os.execv", lambda path, argv: existed_at_exec.append(key_file.exists()))
    out = StringIO()
    assert not key_file.exists()

    call_command("serve", "--no-task-worker", stdout=out)

    assert existed_at_exec == [True]  # made by the before_serving receiver, before the workers fork
    signing = key_ring().signing
    assert signing.kid == load_generated_key("ES256", key_file).kid
    assert out.getvalue().strip().endswith(f"; tokens signed with ES256 key {signing.kid}")


# RFC 7638 thumbprints.


def test_jwk_thumbprint_matches_rfc_7638_example() -> None:
    # RFC 7638 §3.1: members other than the required ones (alg, kid) do not count.
    jwk = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
            "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvzq"
            "Y368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0"
            "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }

    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_a_secret_for_a_public_key_algorithm_is_refused(ring: Settings) -> None:
    ring.JWT_ALGORITHM = "RS256"
    ring.JWT_SECRET = "s" * 64

    with pytest.raises(ImproperlyConfigured, match="JWT_SECRET is for the HMAC algorithms"):
        rebuilt_ring()


def test_a_key_file_for_an_hmac_algorithm_is_refused(ring: Settings, tmp_path: Path) -> None:
    ring.JWT_ALGORITHM = "HS256"
    ring.JWT_PRIVATE_KEY_FILE = tmp_path / "signing.pem"

    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY_FILE is for the public-key"):
        rebuilt_ring()


def test_a_missing_key_file_is_a_configuration_error(ring: Settings, tmp_path: Path) -> None:
    ring.JWT_ALGORITHM = "ES256"
    ring.JWT_PRIVATE_KEY_FILE = tmp_path / "absent.pem"

    with pytest.raises(ImproperlyConfigured, match=r"absent\.pem"):
        rebuilt_ring()


# Reloading: running workers see a rotation or a removal within a second, without a restart.


def test_steady_state_neither_stats_nor_rebuilds(
    ring: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    current = key_ring()  # made the first key: that is no reason to rebuild at the next look
    looks = Counter(monkeypatch, "key_source_state")
    builds = Counter(monkeypatch, "build_key_ring")

    for _ in range(100):
        assert key_ring() is current
    assert (looks.calls, builds.calls) == (0, 0)  # one clock comparison per call, nothing else

    clock.advance()
    assert key_ring() is current
    assert (looks.calls, builds.calls) == (1, 0)  # looked once; nothing changed, so nothing rebuilt


def test_new_key_file_signs_within_a_second(ring: Settings, clock: Clock, owner: User) -> None:
    ring.JWT_ALGORITHM = "EdDSA"
    old = key_ring().signing
    old_access = token_pair_issue(user=owner)["access"]
    new = write_key(ring.JWT_KEY_DIR, "EdDSA", 2)

    assert key_ring().signing == old  # within the second, the ring we have is used
    clock.advance()

    assert key_ring().signing.kid == new.kid
    assert jwt.get_unverified_header(token_pair_issue(user=owner)["access"])["kid"] == new.kid
    assert me(old_access) == 200


@pytest.mark.parametrize(("before", "after"), [("EdDSA", "Ed25519"), ("Ed25519", "EdDSA")])
def test_rotation_between_eddsa_and_ed25519_is_like_any_other(
    ring: Settings, clock: Clock, owner: User, before: str, after: str
) -> None:
    ring.JWT_ALGORITHM = before
    old = key_ring().signing
    old_access = token_pair_issue(user=owner)["access"]

    call_command("rotate_jwt_key", "--algorithm", after, stdout=StringIO())
    clock.advance()

    # Published and verifying at once; signing once JWT_ALGORITHM names it, after a restart.
    new = load_generated_key(after, generated_key_path(ring.JWT_KEY_DIR, after, 2))
    jwks = APIClient().get("/.well-known/jwks.json").json()["keys"]
    assert {jwk["kid"]: jwk["alg"] for jwk in jwks} == {old.kid: before, new.kid: after}
    assert me(resign(old_access, new)) == 200
    assert key_ring().signing.kid == old.kid

    ring.JWT_ALGORITHM = after
    rebuilt_ring()
    access = token_pair_issue(user=owner)["access"]

    assert jwt.get_unverified_header(access)["alg"] == after
    assert jwt.get_unverified_header(access)["kid"] == new.kid
    assert me(access) == 200
    assert me(old_access) == 200  # the old key verifies its own tokens until it is removed


def test_removed_key_file_stops_verifying_within_a_second(ring: Settings, clock: Clock, owner: User) -> None:
    ring.JWT_ALGORITHM = "ES256"
    key_ring()
    older = write_key(ring.JWT_KEY_DIR, "ES256", 0)  # numbered before the signing key: it only verifies
    clock.advance()
    old_access = resign(token_pair_issue(user=owner)["access"], older)
    assert me(old_access) == 200

    generated_key_path(ring.JWT_KEY_DIR, "ES256", 0).unlink()
    clock.advance()

    assert me(old_access) == 401
    assert older.kid not in {jwk["kid"] for jwk in APIClient().get("/.well-known/jwks.json").json()["keys"]}


def test_key_another_process_wrote_verifies_on_first_sight(
    ring: Settings, clock: Clock, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another worker rotated, or another instance sharing var/, and issued a token with the
    # new key: its kid is unknown here, which forces one look at the directory, now.
    ring.JWT_ALGORITHM = "ES256"
    key_ring()
    builds = Counter(monkeypatch, "build_key_ring")
    new = write_key(ring.JWT_KEY_DIR, "ES256", 2)

    assert me(resign(token_pair_issue(user=owner)["access"], new)) == 200  # no time has passed
    assert builds.calls == 1


def test_unknown_kids_look_at_the_directory_at_most_once_a_second(
    ring: Settings, clock: Clock, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    access = token_pair_issue(user=owner)["access"]
    signing = key_ring().signing
    looks = Counter(monkeypatch, "key_source_state")
    builds = Counter(monkeypatch, "build_key_ring")

    for second in range(3):
        clock.advance()
        key_ring()  # this second's regular look
        looks.calls = builds.calls = 0
        for attempt in range(20):
            # The directory changes all the time (another process rotating in a loop), so
            # every look would find something new: only the rate limit bounds the rebuilds.
            write_key(ring.JWT_KEY_DIR, "HS256", 1000 + 100 * second + attempt)
            assert me(resign(access, signing, kid=f"made-up-{second}-{attempt}")) == 401
        assert looks.calls == 1
        assert builds.calls == 1


def test_unknown_kid_within_the_second_waits_for_the_next_look(
    ring: Settings, clock: Clock, owner: User
) -> None:
    # The price of the rate limit: once a made-up kid has spent this second's early look, a
    # key written just after is seen at the next look, at most a second later.
    ring.JWT_ALGORITHM = "ES256"
    access = token_pair_issue(user=owner)["access"]
    assert find_verifying_key("made-up") is None
    new = write_key(ring.JWT_KEY_DIR, "ES256", 2)
    token = resign(access, new)

    assert me(token) == 401
    clock.advance()
    assert me(token) == 200


def test_reload_keeps_the_previous_ring_while_a_key_file_is_broken(
    ring: Settings, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    good = key_ring()
    broken = generated_key_path(ring.JWT_KEY_DIR, "ES256", 2)
    broken.write_bytes(b"half a key")  # copied in by hand, not written atomically
    clock.advance()

    with caplog.at_level(logging.ERROR, logger="tokens.keys"):
        assert key_ring() is good  # a running service keeps working
    assert "could not reload the JWT keys" in caplog.text

    # The directory does not change when the copy completes; the next look tries again anyway.
    broken.write_bytes(generate_key_material("ES256"))
    clock.advance()
    assert key_ring().signing.kid == load_generated_key("ES256", broken).kid


def test_threads_of_a_worker_rebuild_once(
    ring: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    key_ring()
    new = write_key(ring.JWT_KEY_DIR, "ES256", 2)
    clock.advance()
    builds = Counter(monkeypatch, "build_key_ring")
    start = threading.Barrier(8)
    seen: list[str] = []

    def worker() -> None:
        start.wait()
        seen.append(key_ring().signing.kid)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert seen == [new.kid] * 8
    assert builds.calls == 1


def test_replaced_configured_key_file_is_seen_within_a_second(
    ring: Settings, clock: Clock, tmp_path: Path
) -> None:
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(generate_key_material("ES256"))
    ring.JWT_ALGORITHM = "ES256"
    ring.JWT_PRIVATE_KEY_FILE = key_file
    old = key_ring().signing

    replacement = tmp_path / "signing.pem.new"
    replacement.write_bytes(generate_key_material("ES256"))
    replacement.replace(key_file)  # renamed over it, so no worker ever reads half a key
    clock.advance()

    assert key_ring().signing.kid != old.kid
    assert key_ring().signing.kid == load_generated_key("ES256", key_file).kid


def test_key_file_removed_while_the_ring_is_built_is_skipped(
    ring: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ring.JWT_ALGORITHM = "ES256"
    signing = key_ring().signing
    vanished = generated_key_path(ring.JWT_KEY_DIR, "ES256", 0)
    listing = keys.generated_keys(ring.JWT_KEY_DIR)
    monkeypatch.setattr(keys, "generated_keys", lambda key_dir: [(0, "ES256", vanished), *listing])

    assert build_key_ring().verifying.keys() == {signing.kid}
