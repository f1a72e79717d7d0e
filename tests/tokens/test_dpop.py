"""DPoP proofs (tokens.dpop): every check of RFC 9449 §4.3, each refusal with its reason, so
that a proof refused by accident is caught; the replay store, across processes too."""

import hashlib
import json
import math
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from jwt.algorithms import get_default_algorithms
from pytest_django import Settings

from tests.helpers.dpop import URL, ProofKey, ath, hmac_signed, parts, signature_flipped, signed, unsigned
from tests.helpers.forgery import MISSING, SLACK
from tests.helpers.processes import RunDjango
from tokens import dpop
from tokens.dpop import DPoPError, Proof, access_token_hash, challenge, jwk_thumbprint, proof_verify
from tokens.models import SeenProof

pytestmark = pytest.mark.django_db

# RFC 7638 §3.1: the example key and its thumbprint.
RFC7638_KEY = {
    "kty": "RSA",
    "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZ"
    "CiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0"
    "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
    "Cur-kEgU8awapJzKnqDKgw",
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
TOKEN = "an.access.token"

MALFORMED = "The DPoP proof is malformed."
BAD_ALGORITHM = "The DPoP proof's algorithm is not accepted."
PRIVATE_KEY = "The DPoP proof's key must be a public key."
KEY_MISFIT = "The DPoP proof's key does not fit its algorithm."
BAD_SIGNATURE = "The DPoP proof's signature is invalid."
OTHER_URL = "The DPoP proof is for another URL."
OTHER_METHOD = "The DPoP proof is for another HTTP method."
REPLAYED = "The DPoP proof was already used."


@pytest.fixture
def key() -> ProofKey:
    return ProofKey.generate("ES256")


def refusal(proof: str, *, method: str = "GET", url: str = URL, access_token: str | None = None) -> str:
    with pytest.raises(DPoPError) as refused:
        proof_verify(proof, method=method, url=url, access_token=access_token)
    assert refused.value.error == "invalid_dpop_proof"
    return refused.value.description


# The thumbprint, the access token hash, the challenge.


def test_the_thumbprint_of_rfc_7638s_example() -> None:
    assert jwk_thumbprint(RFC7638_KEY) == RFC7638_THUMBPRINT


def test_the_thumbprint_covers_the_required_members_only(key: ProofKey) -> None:
    reordered = dict(reversed(list({**key.jwk, "kid": "mine", "use": "sig", "alg": "ES256"}.items())))
    assert jwk_thumbprint(reordered) == jwk_thumbprint(key.jwk) == key.thumbprint
    assert jwk_thumbprint({**key.jwk, "x": key.jwk["y"]}) != key.thumbprint


@pytest.mark.parametrize("jwk", [{"kty": "EC", "crv": "P-256", "x": "AA"}, {"kty": "XX"}, {"kty": ["EC"]}])
def test_no_thumbprint_without_the_required_members(jwk: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="thumbprint"):
        jwk_thumbprint(jwk)


def test_the_access_token_hash_of_rfc_9449s_example() -> None:
    # RFC 9449 §7.1: the token of the example request, and the ath of its proof.
    assert access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU") == (
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    )


def test_the_challenge_names_the_accepted_algorithms(settings: Settings) -> None:
    settings.DPOP_ALGORITHMS = ["ES256", "EdDSA"]
    assert challenge() == 'DPoP algs="ES256 EdDSA"'
    assert challenge("invalid_dpop_proof", 'A "quoted" \\ word\r\n') == (
        'DPoP error="invalid_dpop_proof", error_description="A \\"quoted\\" \\\\ word??", algs="ES256 EdDSA"'
    )


def test_the_default_algorithms_are_every_asymmetric_one_pyjwt_verifies() -> None:
    asymmetric = ["ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512", "EdDSA"]
    named = ["Ed25519"] if "Ed25519" in get_default_algorithms() else []  # RFC 9864's name, if PyJWT has it
    assert [*asymmetric, *named] == settings.DPOP_ALGORITHMS


def test_symmetric_algorithms_and_a_zero_window_are_refused_at_start_up(run_django: RunDjango) -> None:
    result = run_django("manage.py", "check", DPOP_ALGORITHMS="ES256,HS256", DPOP_PROOF_MAX_AGE="0")
    assert result.returncode != 0
    assert "DPOP_ALGORITHMS" in result.stderr
    assert "DPOP_PROOF_MAX_AGE" in result.stderr


# Proofs accepted.


@pytest.mark.parametrize("algorithm", ["ES256", "ES384", "ES512", "PS256", "RS256", "EdDSA"])
def test_a_proof_of_each_algorithm_is_accepted(algorithm: str) -> None:
    key = ProofKey.generate(algorithm)
    proof = key.proof(access_token=TOKEN, jti="one")
    checked = proof_verify(proof, method="GET", url=URL, access_token=TOKEN)
    assert checked == Proof(jkt=key.thumbprint, jti="one", iat=parts(proof)[1]["iat"])


@pytest.mark.parametrize(
    ("htu", "url"),
    [
        ("http://testserver/tasks/?page=2#top", URL),  # §4.3 step 9: query and fragment ignored
        (URL, "http://testserver/tasks/?page=2"),
        ("HTTP://TestServer/tasks/", URL),  # RFC 3986 §6.2.2.1: scheme and host case
        ("http://testserver:80/tasks/", URL),  # §6.2.3: the default port
        ("https://testserver:443/tasks/", "https://testserver/tasks/"),
        ("http://testserver", "http://testserver/"),  # §6.2.3: an empty path
        ("http://testserver/t%61sks/", URL),  # §6.2.2.2: percent-encoding
        ("http://testserver/projects/../tasks/./", URL),  # §6.2.2.3: dot segments
        ("http://[::1]:8000/tasks/", "http://[::1]:8000/tasks/"),
    ],
)
def test_the_url_is_compared_normalised(key: ProofKey, htu: str, url: str) -> None:
    assert proof_verify(key.proof(htu=htu), method="GET", url=url).jkt == key.thumbprint


def test_the_hash_of_a_token_is_not_asked_for_without_one(key: ProofKey) -> None:
    assert proof_verify(key.proof(ath="anything"), method="GET", url=URL).jkt == key.thumbprint


def test_a_proof_just_made_by_a_clock_ahead_within_the_leeway_is_accepted(key: ProofKey) -> None:
    proof = key.proof(iat=int(time.time()) + settings.JWT_LEEWAY - SLACK)
    assert proof_verify(proof, method="GET", url=URL).jkt == key.thumbprint


# Every refusal of §4.3, by step.


@pytest.mark.parametrize(
    "proof",
    [
        pytest.param(lambda key: f"{key.proof()}, {key.proof()}", id="two headers, merged"),
        pytest.param(lambda key: f"{key.proof()},{key.proof()}", id="two headers, merged tight"),
    ],
)
def test_more_than_one_proof_is_refused(key: ProofKey, proof: Callable[[ProofKey], str]) -> None:
    assert refusal(proof(key)) == "Send exactly one DPoP proof."


@pytest.mark.parametrize(
    "proof",
    [
        pytest.param(lambda key: "not a jwt", id="not a JWS"),
        pytest.param(lambda key: "a.b", id="two segments"),
        pytest.param(lambda key: key.proof() + "=", id="padded"),
        pytest.param(lambda key: key.proof() + "\u00e9", id="past ASCII"),
        pytest.param(lambda key: key.proof(padding="x" * 9000), id="too large"),
        pytest.param(lambda key: "bm90IGpzb24.e30.AA", id="a header that is not JSON"),
        pytest.param(lambda key: "WyJ0eXAiXQ.e30.AA", id="a header that is not an object"),
        pytest.param(
            lambda key: signed(parts(key.proof())[0], ["jti", "htm"], key), id="claims not an object"
        ),
    ],
)
def test_a_malformed_proof_is_refused(key: ProofKey, proof: Callable[[ProofKey], str]) -> None:
    assert refusal(proof(key)) == MALFORMED


@pytest.mark.parametrize("claim", ["jti", "htm", "htu", "iat"])
@pytest.mark.parametrize("value", [MISSING, None])
def test_a_missing_claim_is_refused(key: ProofKey, claim: str, value: Any) -> None:
    assert refusal(key.proof(**{claim: value})) == f"The DPoP proof lacks the {claim!r} claim."


@pytest.mark.parametrize("typ", [MISSING, "jwt", "at+jwt", "DPOP+JWT", ["dpop+jwt"]])
def test_a_proof_not_typed_dpop_jwt_is_refused(key: ProofKey, typ: Any) -> None:
    assert refusal(key.proof(header={"typ": typ})) == "The DPoP proof is not of type dpop+jwt."


def test_alg_none_is_refused(key: ProofKey) -> None:
    assert refusal(unsigned(key.proof())) == BAD_ALGORITHM


def test_an_hmac_proof_is_refused(key: ProofKey) -> None:
    assert (
        refusal(hmac_signed(key.proof(), b"a secret shared with anyone who reads the proof")) == BAD_ALGORITHM
    )


@pytest.mark.parametrize("alg", [MISSING, "HS256", "ES256K", "RSA1_5", "", ["ES256"], "es256"])
def test_an_algorithm_not_asymmetric_or_unknown_is_refused(key: ProofKey, alg: Any) -> None:
    assert refusal(key.proof(header={"alg": alg})) == BAD_ALGORITHM


def test_an_algorithm_taken_off_the_list_is_refused(settings: Settings) -> None:
    settings.DPOP_ALGORITHMS = ["ES256"]
    assert refusal(ProofKey.generate("EdDSA").proof()) == BAD_ALGORITHM


def test_critical_extensions_are_refused(key: ProofKey) -> None:
    # RFC 7515 §4.1.11: we understand none. PyJWT refuses them as it reads the header.
    assert refusal(key.proof(header={"crit": ["exp"], "exp": 1})) == MALFORMED


@pytest.mark.parametrize("jwk", [MISSING, None, "a key", ["EC"]])
def test_a_proof_without_its_key_is_refused(key: ProofKey, jwk: Any) -> None:
    assert refusal(key.proof(header={"jwk": jwk})) == "The DPoP proof carries no public key (jwk)."


@pytest.mark.parametrize("algorithm", ["ES256", "RS256", "EdDSA"])
def test_a_private_key_in_the_header_is_refused(algorithm: str) -> None:
    key = ProofKey.generate(algorithm)
    assert refusal(key.proof(header={"jwk": key.private_jwk})) == PRIVATE_KEY


@pytest.mark.parametrize("member", sorted(dpop.PRIVATE_MEMBERS))
def test_any_private_member_is_refused(key: ProofKey, member: str) -> None:
    assert refusal(key.proof(header={"jwk": {**key.jwk, member: "AQAB"}})) == PRIVATE_KEY


def test_a_symmetric_key_is_refused(key: ProofKey) -> None:
    assert refusal(key.proof(header={"jwk": {"kty": "oct", "alg": "ES256"}})) == PRIVATE_KEY


@pytest.mark.parametrize(
    ("algorithm", "alg"),
    [("RS256", "ES256"), ("ES256", "RS256"), ("ES384", "ES256"), ("ES256", "ES512"), ("EdDSA", "ES256")],
)
def test_a_key_that_does_not_fit_the_algorithm_is_refused(algorithm: str, alg: str) -> None:
    key = ProofKey.generate(algorithm)
    assert refusal(key.proof(header={"alg": alg})) == KEY_MISFIT


def test_an_rsa_key_under_2048_bits_is_refused() -> None:
    key = ProofKey.generate("RS256", rsa_bits=1024)
    assert refusal(key.proof()) == "The DPoP proof's key is malformed, or too weak for its algorithm."


def test_a_key_not_on_its_curve_is_refused(key: ProofKey) -> None:
    jwk = {**key.jwk, "y": key.jwk["x"]}
    assert (
        refusal(key.proof(header={"jwk": jwk}))
        == "The DPoP proof's key is malformed, or too weak for its algorithm."
    )


def test_a_proof_signed_by_another_key_than_its_own_is_refused(key: ProofKey) -> None:
    assert refusal(key.proof(signed_by=ProofKey.generate("ES256"))) == BAD_SIGNATURE


def test_a_proof_with_its_signature_changed_is_refused(key: ProofKey) -> None:
    assert refusal(signature_flipped(key.proof())) == BAD_SIGNATURE


@pytest.mark.parametrize("jti", ["", "x" * 129, 42, ["a"]])
def test_a_malformed_jti_is_refused(key: ProofKey, jti: Any) -> None:
    assert refusal(key.proof(jti=jti)) == "The DPoP proof's jti is malformed."


@pytest.mark.parametrize(
    ("htm", "method"), [("POST", "GET"), ("GET", "POST"), ("get", "GET"), (["GET"], "GET")]
)
def test_a_proof_for_another_method_is_refused(key: ProofKey, htm: Any, method: str) -> None:
    assert refusal(key.proof(method=htm), method=method) == OTHER_METHOD


@pytest.mark.parametrize(
    "htu",
    [
        "http://testserver/tasks/1/",  # another path
        "http://testserver/tasks",
        "http://elsewhere/tasks/",  # another host
        "https://testserver/tasks/",  # another scheme
        "http://testserver:8000/tasks/",  # another port
        "http://user@testserver/tasks/",
        "/tasks/",  # not absolute
        "ftp://testserver/tasks/",
        "http://testserver:99999/tasks/",
        "",
        42,
    ],
)
def test_a_proof_for_another_url_is_refused(key: ProofKey, htu: Any) -> None:
    assert refusal(key.proof(htu=htu)) == OTHER_URL


def test_a_stale_proof_is_refused(key: ProofKey) -> None:
    proof = key.proof(iat=int(time.time()) - settings.DPOP_PROOF_MAX_AGE - SLACK)
    assert refusal(proof) == "The DPoP proof is too old."


def test_a_proof_from_the_future_is_refused(key: ProofKey) -> None:
    proof = key.proof(iat=int(time.time()) + settings.JWT_LEEWAY + SLACK)
    assert refusal(proof) == "The DPoP proof was made in the future."


@pytest.mark.parametrize(
    ("iat", "reason"),
    [
        (math.nan, "The DPoP proof was made in the future."),
        (math.inf, "The DPoP proof was made in the future."),
        (-math.inf, "The DPoP proof is too old."),
    ],
)
def test_an_iat_that_is_no_moment_is_refused(key: ProofKey, iat: float, reason: str) -> None:
    assert refusal(key.proof(iat=iat)) == reason


@pytest.mark.parametrize("iat", [True, "now", "1700000000", [1]])
def test_an_iat_that_is_not_a_number_is_refused(key: ProofKey, iat: Any) -> None:
    assert refusal(key.proof(iat=iat)) == "The DPoP proof's iat is not a number."


def test_a_proof_without_the_tokens_hash_is_refused(key: ProofKey) -> None:
    assert refusal(key.proof(), access_token=TOKEN) == "The DPoP proof lacks the access token's hash (ath)."


@pytest.mark.parametrize(
    "hash_of", [lambda: ath("another.access.token"), lambda: ath(TOKEN) + "A", lambda: 42]
)
def test_a_proof_for_another_token_is_refused(key: ProofKey, hash_of: Callable[[], Any]) -> None:
    proof = key.proof(ath=hash_of())
    assert refusal(proof, access_token=TOKEN) == "The DPoP proof was made for another access token."


# Replays (§11.1).


def test_a_replayed_proof_is_refused(key: ProofKey) -> None:
    proof = key.proof()
    proof_verify(proof, method="GET", url=URL)
    assert refusal(proof) == REPLAYED


def test_a_jti_is_spent_for_its_key_whatever_the_proof(key: ProofKey) -> None:
    proof_verify(key.proof(jti="once"), method="GET", url=URL)
    assert refusal(key.proof(jti="once", method="POST"), method="POST") == REPLAYED
    other = ProofKey.generate("ES256")  # a jti is unique per key: another's may be the same
    assert proof_verify(other.proof(jti="once"), method="GET", url=URL).jkt == other.thumbprint


def test_a_refused_proof_spends_nothing(key: ProofKey) -> None:
    proof = key.proof(access_token=TOKEN)
    refusal(proof, access_token="another.access.token")
    assert proof_verify(proof, method="GET", url=URL, access_token=TOKEN).jkt == key.thumbprint


class CacheDown:
    def add(self, *args: Any, **kwargs: Any) -> bool:
        raise ConnectionError("Redis is away")


@pytest.fixture
def database_store(settings: Settings) -> None:
    settings.REVOCATION_SHARED_CACHE = False


def test_without_a_shared_cache_a_proof_is_remembered_in_the_database(
    database_store: None, key: ProofKey
) -> None:
    proof = key.proof()
    checked = proof_verify(proof, method="GET", url=URL)
    (row,) = SeenProof.objects.all()
    assert row.expires.timestamp() == checked.iat + settings.DPOP_PROOF_MAX_AGE + 1
    assert refusal(proof) == REPLAYED


def test_a_cache_that_is_down_leaves_the_replay_to_the_database(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, key: ProofKey
) -> None:
    settings.REVOCATION_SHARED_CACHE = True
    monkeypatch.setattr(dpop, "cache", CacheDown())
    proof = key.proof()
    proof_verify(proof, method="GET", url=URL)
    assert SeenProof.objects.count() == 1
    assert refusal(proof) == REPLAYED


@pytest.mark.redis
def test_with_redis_a_replay_is_refused_by_redis_alone(key: ProofKey) -> None:
    proof = key.proof()
    checked = proof_verify(proof, method="GET", url=URL)
    assert refusal(proof) == REPLAYED
    assert not SeenProof.objects.exists()
    digest = hashlib.sha256(f"{checked.jkt}.{checked.jti}".encode()).hexdigest()
    client = cache._cache.get_client(write=False)  # type: ignore[attr-defined]
    ttl = client.ttl(cache.make_key(f"dpop:proof:{digest}"))  # SET NX EX: it ends with the proof's window
    assert 0 < ttl <= settings.DPOP_PROOF_MAX_AGE + 1


def test_a_row_past_its_time_is_taken_over_once(database_store: None) -> None:
    now = timezone.now()
    assert dpop.proof_first_use(jkt="k", jti="j", until=now + timedelta(seconds=60))
    assert not dpop.proof_first_use(jkt="k", jti="j", until=now + timedelta(seconds=60))
    SeenProof.objects.update(expires=now - timedelta(seconds=1))  # not pruned yet
    assert dpop.proof_first_use(jkt="k", jti="j", until=now + timedelta(seconds=60))
    assert not dpop.proof_first_use(jkt="k", jti="j", until=now + timedelta(seconds=60))


def test_rows_past_their_time_are_pruned(database_store: None, monkeypatch: pytest.MonkeyPatch) -> None:
    now = timezone.now()
    SeenProof.objects.create(digest="old", expires=now - timedelta(seconds=1))
    SeenProof.objects.create(digest="live", expires=now + timedelta(seconds=60))
    monkeypatch.setattr(dpop.secrets, "randbelow", lambda n: 0)  # this insert's turn to prune
    assert dpop.proof_first_use(jkt="k", jti="j", until=now + timedelta(seconds=60))
    assert set(SeenProof.objects.values_list("digest", flat=True)) == {
        "live",
        hashlib.sha256(b"k.j").hexdigest(),
    }


# Replays across processes: each its own interpreter, settings and in-process cache.

VERIFY = """
import json, sys
import django
django.setup()
from django.core.management import call_command
from tokens.dpop import DPoPError, proof_verify
if sys.argv[3] == "migrate":
    call_command("migrate", verbosity=0)
try:
    print(json.dumps({"accepted": proof_verify(sys.argv[1], method="GET", url=sys.argv[2]).jkt}))
except DPoPError as exc:
    print(json.dumps({"refused": exc.description}))
"""


def verified_elsewhere(run_django: RunDjango, proof: str, migrate: bool, **env: str) -> dict[str, str]:
    result = run_django("-c", VERIFY, proof, URL, "migrate" if migrate else "", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_a_replay_to_another_process_is_refused_by_the_shared_database(
    run_django: RunDjango, key: ProofKey
) -> None:
    # No Redis: each process has its own LocMemCache, so only the SQLite file is shared.
    proof = key.proof()
    assert verified_elsewhere(run_django, proof, migrate=True) == {"accepted": key.thumbprint}
    assert verified_elsewhere(run_django, proof, migrate=False) == {"refused": REPLAYED}


@pytest.mark.redis
def test_a_replay_to_another_instance_is_refused_through_redis(
    run_django: RunDjango, tmp_path: Path, key: ProofKey
) -> None:
    # Two instances with databases of their own: only Redis is shared. Neither is migrated,
    # so a database check would fail the process rather than pass the replay.
    proof = key.proof()
    redis = {"REDIS_URL": settings.CACHES["default"]["LOCATION"]}
    first = verified_elsewhere(run_django, proof, migrate=False, STATE_DIR=str(tmp_path / "one"), **redis)
    second = verified_elsewhere(run_django, proof, migrate=False, STATE_DIR=str(tmp_path / "two"), **redis)
    assert first == {"accepted": key.thumbprint}
    assert second == {"refused": REPLAYED}
