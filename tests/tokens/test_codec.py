"""Every check an access token must pass, through the real HTTP path: ``GET /tasks/``.

Tokens are forged with our real signing key, so in each test the property under test is the
only thing wrong; ``test_forged_token_with_nothing_wrong_is_accepted`` shows that the forgery
itself is sound, so every refusal below is down to the one property that was changed.
"""

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from pytest_django import Settings
from rest_framework.test import APIClient

from tests.helpers.forgery import (
    MISSING,
    SLACK,
    assert_invalid_token,
    b64,
    claims_for,
    forge,
    get_tasks,
    our_header,
    sign_by_hand,
)
from tokens.codec import MAX_TOKEN_BYTES
from tokens.keys import RSA_ALGORITHMS, SigningKey, key_ring
from tokens.services import token_pair_issue
from users.models import User

pytestmark = pytest.mark.django_db

# API.md: "Access tokens carry iss, aud, sub, exp, nbf, iat, jti and a type claim" (RFC 7519 §4.1).
# Spelled out rather than imported, so that dropping one from the code fails a test.
REQUIRED_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "jti", "token_use"]


def assert_refused(token: str) -> None:
    assert_invalid_token(get_tasks(f"Bearer {token}"))


@pytest.fixture(scope="module")
def foreign_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_signing_key() -> SigningKey:
    key = key_ring().signing
    if key.is_hmac:
        pytest.skip("the service is configured with an HMAC key: there is no public key to confuse")
    return key


# The baseline: what the tests below change one property of.


def test_forged_token_with_nothing_wrong_is_accepted(owner: User) -> None:
    assert get_tasks(f"Bearer {forge(owner)}").status_code == 200
    assert get_tasks(f"Bearer {sign_by_hand(our_header(), claims_for(owner))}").status_code == 200


def test_issued_access_token_is_accepted(owner: User) -> None:
    response = get_tasks(f"Bearer {token_pair_issue(user=owner)['access']}")

    assert response.status_code == 200


def test_scheme_name_is_case_insensitive(owner: User) -> None:
    # RFC 6750 §2.1 via RFC 9110 §11.1: auth-scheme names are case-insensitive.
    assert get_tasks(f"bearer {forge(owner)}").status_code == 200


def test_no_token_gets_a_bearer_challenge(anon: APIClient) -> None:
    response = anon.get("/tasks/")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# Signature (RFC 7515 §5.2, RFC 7519 §7.2).


def test_tampered_payload_is_refused(owner: User, other: User) -> None:
    header, _, signature = forge(owner).split(".")
    payload = b64(json.dumps(claims_for(other)))  # claim to be someone else, keep owner's signature

    assert_refused(f"{header}.{payload}.{signature}")


def test_stripped_signature_is_refused(owner: User) -> None:
    header, payload, _ = forge(owner).split(".")

    assert_refused(f"{header}.{payload}.")


def test_truncated_signature_is_refused(owner: User) -> None:
    assert_refused(forge(owner)[:-8])


def test_signature_of_a_foreign_key_under_our_kid_is_refused(
    owner: User, rsa_signing_key: SigningKey, foreign_rsa_key: rsa.RSAPrivateKey
) -> None:
    if rsa_signing_key.algorithm not in RSA_ALGORITHMS:
        pytest.skip("the signing key is not an RSA key")
    headers = {"kid": rsa_signing_key.kid, "typ": "at+jwt"}
    token = jwt.encode(
        claims_for(owner), foreign_rsa_key, algorithm=rsa_signing_key.algorithm, headers=headers
    )

    assert_refused(token)


# Time (RFC 7519 §4.1.4 exp, §4.1.5 nbf; RFC 7519 §4.1.4 allows "some small leeway").


def test_expired_token_is_refused(owner: User) -> None:
    now = int(time.time())
    exp = now - settings.JWT_LEEWAY - SLACK

    assert_refused(forge(owner, iat=exp - 300, nbf=exp - 300, exp=exp))


def test_expired_token_within_the_leeway_is_accepted(owner: User) -> None:
    now = int(time.time())
    exp = now - settings.JWT_LEEWAY + SLACK

    assert get_tasks(f"Bearer {forge(owner, iat=exp - 300, nbf=exp - 300, exp=exp)}").status_code == 200


def test_not_yet_valid_token_is_refused(owner: User) -> None:
    nbf = int(time.time()) + settings.JWT_LEEWAY + SLACK

    assert_refused(forge(owner, nbf=nbf, exp=nbf + 300))


def test_not_yet_valid_token_within_the_leeway_is_accepted(owner: User) -> None:
    nbf = int(time.time()) + settings.JWT_LEEWAY - SLACK

    assert get_tasks(f"Bearer {forge(owner, nbf=nbf, exp=nbf + 300)}").status_code == 200


def test_token_issued_in_the_future_is_refused(owner: User) -> None:
    iat = int(time.time()) + settings.JWT_LEEWAY + SLACK

    assert_refused(forge(owner, iat=iat, exp=iat + 300))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", ["soon", None, [1], "NaN"])
def test_time_claim_that_is_not_a_number_is_refused(owner: User, claim: str, value: Any) -> None:
    assert_refused(forge(owner, **{claim: value}))


# Audience and issuer are exact (RFC 7519 §4.1.3, §4.1.1; RFC 8725 §3.9).


def test_wrong_audience_is_refused(owner: User) -> None:
    assert_refused(forge(owner, aud="some-other-api"))


@pytest.mark.parametrize("aud", [MISSING, "", None], ids=["absent", "empty", "null"])
def test_missing_audience_is_refused(owner: User, aud: Any) -> None:
    assert_refused(forge(owner, aud=aud))


@pytest.mark.parametrize("extra", [[], ["some-other-api"]], ids=["ours-alone", "ours-and-another"])
def test_audience_list_is_refused_even_with_ours_in_it(owner: User, extra: list[str]) -> None:
    # RFC 7519 allows an array; we are strict, so a token cannot be shared with another service.
    assert_refused(forge(owner, aud=[settings.JWT_AUDIENCE, *extra]))


@pytest.mark.parametrize(
    "issuer",
    [
        pytest.param(lambda ours: "someone-else", id="other"),
        pytest.param(lambda ours: ours[:-1], id="prefix-of-ours"),
        pytest.param(lambda ours: ours + "-evil", id="ours-is-a-prefix"),
        pytest.param(lambda ours: "evil-" + ours, id="ours-is-a-suffix"),
        pytest.param(lambda ours: ours[1:-1], id="substring-of-ours"),
        pytest.param(lambda ours: ours.upper(), id="other-case"),
        pytest.param(lambda ours: [ours], id="list"),
        pytest.param(lambda ours: MISSING, id="absent"),
    ],
)
def test_wrong_issuer_is_refused(owner: User, issuer: Any) -> None:
    assert_refused(forge(owner, iss=issuer(settings.JWT_ISSUER)))


# The algorithm is the key's, never the token's choice (RFC 8725 §2.1, §3.1).


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_unsigned_token_is_refused_in_any_casing(owner: User, alg: str) -> None:
    header, payload, _ = sign_by_hand(our_header(alg=alg), claims_for(owner)).split(".")

    assert_refused(f"{header}.{payload}.")


@pytest.mark.parametrize(
    "public_format",
    [serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1],
    ids=["spki", "pkcs1"],
)
def test_hmac_signed_with_our_public_key_is_refused(
    owner: User, rsa_signing_key: SigningKey, public_format: serialization.PublicFormat
) -> None:
    # The classic algorithm confusion: a verifier that lets the token pick HS256 would use the
    # public PEM as the HMAC secret. PyJWT refuses PEM secrets, so the token is made by hand.
    secret = rsa_signing_key.public.public_bytes(serialization.Encoding.PEM, public_format)
    signing_input = f"{b64(json.dumps(our_header(alg='HS256')))}.{b64(json.dumps(claims_for(owner)))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    assert_refused(f"{signing_input}.{b64(signature)}")


@pytest.mark.parametrize(("ours", "claimed"), [("Ed25519", "EdDSA"), ("EdDSA", "Ed25519")])
def test_an_ed25519_signature_under_the_other_eddsa_name_is_refused(
    ring: Settings, owner: User, ours: str, claimed: str
) -> None:
    # Both names make the same signature with an Ed25519 key; the key's own name is the
    # only one it verifies, as for any other algorithm (RFC 8725 §3.1).
    ring.JWT_ALGORITHM = ours
    key = key_ring().signing
    assert get_tasks(f"Bearer {forge(owner)}").status_code == 200  # the ring and forgery are sound

    token = jwt.api_jws.encode(
        json.dumps(claims_for(owner)).encode(),
        key.private,
        algorithm=claimed,
        headers={"kid": key.kid, "typ": "at+jwt"},
    )

    assert jwt.get_unverified_header(token)["alg"] == claimed
    assert_refused(token)


# The key is ours, found by kid, and never named by the token (RFC 7515 §4.1.4; RFC 8725 §3.10).


def test_unknown_kid_is_refused(owner: User) -> None:
    assert_refused(forge(owner, headers={"kid": "not-one-of-ours"}))


def test_missing_kid_is_refused(owner: User) -> None:
    assert_refused(sign_by_hand(our_header(kid=MISSING), claims_for(owner)))


@pytest.mark.parametrize("kid", [1, None, True, ["kid"], {"kid": "kid"}])
def test_kid_that_is_not_a_string_is_refused(owner: User, kid: Any) -> None:
    if isinstance(kid, list):
        kid = [key_ring().signing.kid]  # even a list holding our real kid
    assert_refused(sign_by_hand(our_header(kid=kid), claims_for(owner)))


@pytest.mark.parametrize(
    "kid", ["../../../../etc/passwd", "../jwt/RS256-1.pem", "/dev/null", "RS256-1.pem", "..\\..\\x"]
)
def test_kid_path_traversal_is_refused(owner: User, kid: str) -> None:
    assert_refused(forge(owner, headers={"kid": kid}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("jku", "https://evil.example/jwks.json"),
        ("x5u", "https://evil.example/cert.pem"),
        ("jwk", {"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}),
        ("x5c", ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
    ],
)
def test_key_locating_header_is_refused(owner: User, name: str, value: Any) -> None:
    # Signed by our own key: the header's mere presence is what is refused, not where it points.
    assert_refused(sign_by_hand(our_header(**{name: value}), claims_for(owner)))


@pytest.mark.parametrize(
    "changes",
    [{"crit": ["exp"], "exp": 1}, {"crit": ["b64"], "b64": True}, {"crit": []}],
    ids=["unknown-extension", "b64-which-pyjwt-knows", "empty"],
)
def test_crit_header_is_refused(owner: User, changes: dict[str, Any]) -> None:
    # RFC 7515 §4.1.11: we understand no extension, so any "crit" must be refused.
    assert_refused(sign_by_hand(our_header(**changes), claims_for(owner)))


# Token types cannot stand in for one another (RFC 8725 §3.11; RFC 9068 §2.1).


def test_refresh_token_is_refused_as_access_token(owner: User) -> None:
    assert_refused(token_pair_issue(user=owner)["refresh"])


@pytest.mark.parametrize("typ", ["refresh+jwt", "JWT", "AT+JWT", "application/at+jwt", MISSING])
def test_access_token_of_another_type_header_is_refused(owner: User, typ: Any) -> None:
    assert_refused(sign_by_hand(our_header(typ=typ), claims_for(owner)))


@pytest.mark.parametrize("token_use", ["refresh", "Access", "", None, MISSING])
def test_access_typ_with_another_token_use_is_refused(owner: User, token_use: Any) -> None:
    # The header and the claim must agree: neither alone is enough.
    assert_refused(forge(owner, token_use=token_use))


# Size and shape.


def test_token_over_8_kb_is_refused(owner: User) -> None:
    token = forge(owner, padding="x" * MAX_TOKEN_BYTES)
    assert len(token) > MAX_TOKEN_BYTES

    assert_refused(token)


def test_token_just_under_8_kb_is_accepted(owner: User) -> None:
    base = len(forge(owner, padding=""))
    # Base64url turns every 3 bytes into 4 characters: fill what is left, with room to spare.
    token = forge(owner, padding="x" * ((MAX_TOKEN_BYTES - base) * 3 // 4 - 8))
    assert MAX_TOKEN_BYTES - 16 < len(token) <= MAX_TOKEN_BYTES

    assert get_tasks(f"Bearer {token}").status_code == 200


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_missing_required_claim_is_refused(owner: User, claim: str) -> None:
    assert_refused(forge(owner, **{claim: MISSING}))


@pytest.mark.parametrize(
    "sub",
    ["", "abc", "-1", "+1", "1.0", " 1", "1 ", "0x1", "1e3", "\u0661", "\uff11", "9" * 20, 1, None, ["1"]],
)
def test_subject_that_is_not_a_digit_string_is_refused(owner: User, sub: Any) -> None:
    # "\u0661" and "\uff11" are digits to str.isdigit() and to int(), but not ASCII digits.
    assert_refused(forge(owner, sub=sub))


def test_subject_beyond_any_user_id_is_refused(owner: User) -> None:
    # 19 digits fit the length check but not a 64-bit primary key: a 401, not a database error.
    assert_refused(forge(owner, sub="9" * 19))


@pytest.mark.parametrize("jti", ["", "x" * 65, 7, None])
def test_malformed_jti_is_refused(owner: User, jti: Any) -> None:
    assert_refused(forge(owner, jti=jti))


@pytest.mark.parametrize("payload", [[], "a string", 42, None], ids=["list", "string", "number", "null"])
def test_payload_that_is_not_a_json_object_is_refused(payload: Any) -> None:
    assert_refused(sign_by_hand(our_header(), payload))


# The user behind the token (RFC 6750 §3.1: a token that is no longer valid is invalid_token).


def test_token_of_a_deleted_user_is_refused(owner: User) -> None:
    token = token_pair_issue(user=owner)["access"]
    owner.delete()

    assert_refused(token)


def test_token_of_a_deactivated_user_is_refused(owner: User) -> None:
    token = token_pair_issue(user=owner)["access"]
    owner.is_active = False
    owner.save(update_fields=["is_active"])

    assert_refused(token)


# Garbage in the Authorization header.


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "Bearer a.b.c",
        "Bearer ..",
        "Bearer a.b",
        "Bearer a.b.c.d.e",
        "Bearer e30.e30.",  # {}.{}. : an empty header
        "Bearer W10.e30.",  # [].{}. : a header that is not an object
        "Bearer ",
        "Bearer",
        "Bearer a.b.c extra",
        "Bearer \xff\xfe\xfd",  # raw bytes, as a WSGI server hands them over (latin-1)
        "Bearer \xc3\xa9.\xc3\xa9.\xc3\xa9",  # UTF-8 "é.é.é" seen as latin-1
        "Bearer \u20ac.\u20ac.\u20ac",  # past latin-1: no WSGI server sends it, a test client can
    ],
)
def test_garbage_bearer_value_is_refused(authorization: str) -> None:
    assert_invalid_token(get_tasks(authorization))


def test_deeply_nested_header_is_refused() -> None:
    # Enough nesting to overflow the JSON parser's recursion limit, well within 8 KB: a 401, not a 500.
    header = b64('{"alg":' + "[" * 3000 + "]" * 3000 + "}")

    assert_refused(f"{header}.e30.")


@pytest.mark.parametrize("error", [RecursionError, KeyError, OverflowError])
def test_unexpected_parser_error_is_a_401(owner: User, monkeypatch: pytest.MonkeyPatch, error: type) -> None:
    # Whatever corner of a parser hostile input reaches, it ends in a 401, not a 500.
    def explode(token: str) -> None:
        raise error("deep in a parser")

    monkeypatch.setattr(jwt, "get_unverified_header", explode)

    assert_refused(forge(owner))


def test_valid_token_with_a_non_ascii_byte_appended_is_refused(owner: User) -> None:
    assert_refused(forge(owner) + "\xe9")


def test_authorization_header_given_as_bytes_is_read(owner: User) -> None:
    # WSGI servers hand over text; a test client or a WSGI wrapper may hand over bytes.
    response = APIClient().get("/tasks/", HTTP_AUTHORIZATION=f"Bearer {forge(owner)}".encode())

    assert response.status_code == 200, response.content


# Spelling (RFC 7515 §2, §7.1): one token, one spelling. Each variant below decodes, as
# base64 decoders do, to the same bytes as the token it came from. The header and payload
# are signed as written, so only the signature can be spelled otherwise and still verify:
# PyJWT (2.15) accepts a padded one and refuses the other spellings itself; the codec
# refuses all of them before PyJWT sees the token. A 3072-bit RSA signature is 512
# characters, which need no padding; these keys' signatures are 43 (HS256) and 86 (ES256).

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture(params=["HS256", "ES256"])
def short_signatures(request: pytest.FixtureRequest, settings: Any, tmp_path: Path) -> Iterator[str]:
    settings.JWT_ALGORITHM, settings.JWT_SECRET = request.param, "s" * 64 if request.param == "HS256" else ""
    settings.JWT_KEY_DIR, settings.JWT_PRIVATE_KEY_FILE = tmp_path / "jwt", None
    key_ring.cache_clear()
    try:
        yield request.param
    finally:
        key_ring.cache_clear()  # the next test gets the ring of its own settings


def padded(segment: str) -> str:
    assert len(segment) % 4, "this segment needs no padding"
    return segment + "=" * (-len(segment) % 4)


def with_junk(segment: str) -> str:
    # Skipped by the standard library's decoder; four of them leave the length's remainder.
    return f"{segment[:4]}!!!!{segment[4:]}"


def with_unused_bits_set(segment: str) -> str:
    # The last character carries (6 * len) % 8 bits that belong to no byte: the encoder
    # writes them as zeros; its sibling differs only there.
    assert (len(segment) * 6) % 8, "this segment has no unused bits"
    return segment[:-1] + ALPHABET[ALPHABET.index(segment[-1]) ^ 1]


def in_the_standard_alphabet(segment: str) -> str:
    return segment.replace("-", "+").replace("_", "/")


def respelled(token: str, spell: Callable[[str], str]) -> str:
    signing_input, signature = token.rsplit(".", 1)
    variant = spell(signature)
    assert variant != signature
    lenient = base64.urlsafe_b64decode(variant.replace("!", "").rstrip("=") + "==")
    assert lenient == base64.urlsafe_b64decode(signature + "==")
    return f"{signing_input}.{variant}"


def with_both_alphabets(tokens: Iterator[str]) -> str:
    # All but about one signature in 20 (HS256) or in 400 (ES256) hold a - or a _.
    return next(token for token in tokens if {"-", "_"} & set(token.rsplit(".", 1)[1]))


@pytest.mark.parametrize(
    "spell", [padded, with_unused_bits_set, with_junk], ids=["padded", "unused-bits", "junk"]
)
def test_a_signature_spelled_otherwise_is_refused(
    owner: User, short_signatures: str, spell: Callable[[str], str]
) -> None:
    token = forge(owner)

    assert get_tasks(f"Bearer {token}").status_code == 200
    assert_refused(respelled(token, spell))


def test_a_signature_in_the_standard_alphabet_is_refused(owner: User, short_signatures: str) -> None:
    token = with_both_alphabets(forge(owner) for _ in range(200))

    assert get_tasks(f"Bearer {token}").status_code == 200
    assert_refused(respelled(token, in_the_standard_alphabet))


@pytest.mark.parametrize("path", ["/auth/token/refresh/", "/auth/token/verify/"])
def test_a_padded_refresh_token_is_refused(
    owner: User, anon: APIClient, short_signatures: str, path: str
) -> None:
    refresh = token_pair_issue(user=owner)["refresh"]
    field = "refresh" if path.endswith("refresh/") else "token"

    assert anon.post(path, {field: respelled(refresh, padded)}, format="json").status_code == 401
    assert anon.post(path, {field: refresh}, format="json").status_code == 200
