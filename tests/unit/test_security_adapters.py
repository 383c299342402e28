"""Security adapters: argon2 passwords, JWT access tokens, keyed digests, clock and ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.ids import Uuid7IdGenerator
from adapters.security.argon2_hasher import Argon2PasswordHasher
from adapters.security.jwt_tokens import JwtTokenIssuer, key_id
from adapters.security.secret_hasher import HmacSecretHasher
from wallet_core.errors import NotAuthenticated
from wallet_core.local import SystemClock
from wallet_core.users import User

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
KEY = "k" * 64
OLD_KEY = "o" * 64
OTHER_KEY = "x" * 64


def make_user(*, is_staff: bool = False) -> User:
    return User(
        id=uuid.UUID("0190a0b0-0000-7000-8000-000000000001"),
        email="ada@example.com",
        username="ada",
        phone_number="+14155550123",
        password_hash="unused",
        created_at=NOW,
        updated_at=NOW,
        is_staff=is_staff,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def claims(**overrides: Any) -> dict[str, Any]:
    issued = int(NOW.timestamp())
    base: dict[str, Any] = {
        "sub": str(make_user().id),
        "iss": "digital-wallet",
        "iat": issued,
        "nbf": issued,
        "exp": issued + 1800,
        "jti": "abc",
        "type": "access",
        "is_staff": False,
        "email": "ada@example.com",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def forge(payload: dict[str, Any], key: str = KEY, alg: str = "HS256", **header: Any) -> str:
    headers = {"kid": key_id(key), **header}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


def payload_of(token: str) -> dict[str, Any]:
    result: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return result


@pytest.fixture
def issuer() -> JwtTokenIssuer:
    return JwtTokenIssuer(KEY)


# Argon2 ---------------------------------------------------------------------------------------


@pytest.fixture
def hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(time_cost=1, memory_cost_kib=8, parallelism=1)


async def test_argon2_hash_then_verify(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "m=8,t=1,p=1" in hashed
    assert await hasher.verify(hashed, "correct horse battery")
    assert not await hasher.verify(hashed, "correct horse battery!")


async def test_argon2_hashes_are_salted(hasher: Argon2PasswordHasher) -> None:
    assert await hasher.hash("same password") != await hasher.hash("same password")


@pytest.mark.parametrize(
    "bad_hash", ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$broken", "pbkdf2$1$00$00"]
)
async def test_argon2_verify_never_raises_on_bad_hashes(
    hasher: Argon2PasswordHasher, bad_hash: str
) -> None:
    assert not await hasher.verify(bad_hash, "whatever password")


async def test_argon2_verify_refuses_unencodable_password(hasher: Argon2PasswordHasher) -> None:
    hashed = await hasher.hash("password")
    assert not await hasher.verify(hashed, "\ud800")


async def test_argon2_burn_uses_one_dummy_hash_of_the_same_cost(
    hasher: Argon2PasswordHasher,
) -> None:
    await hasher.burn("anything")
    dummy = hasher._dummy()
    await hasher.burn("something else")
    assert hasher._dummy() is dummy
    assert dummy.startswith("$argon2id$")
    assert "m=8,t=1,p=1" in dummy


def test_argon2_defaults_are_argon2id_owasp() -> None:
    params = Argon2PasswordHasher()._hasher
    assert (params.time_cost, params.memory_cost, params.parallelism) == (3, 65536, 1)


# JWT: issuing ---------------------------------------------------------------------------------


def test_jwt_round_trip(issuer: JwtTokenIssuer) -> None:
    user = make_user(is_staff=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        issued = issuer.issue_access(user, NOW)
        verified = issuer.verify_access(issued.token, NOW + timedelta(minutes=29))
    assert issued.expires_in == 1800
    assert verified.user_id == user.id
    assert verified.email == user.email
    assert verified.is_staff is True
    assert verified.expires_at == NOW + timedelta(seconds=1800)
    assert verified.token_id == payload_of(issued.token)["jti"]


def test_jwt_carries_the_contract_claims_and_kid(issuer: JwtTokenIssuer) -> None:
    token = issuer.issue_access(make_user(), NOW).token
    payload = payload_of(token)
    assert set(payload) >= {"sub", "exp", "iat", "nbf", "jti", "type", "is_staff", "email", "iss"}
    assert payload["type"] == "access"
    assert payload["iss"] == "digital-wallet"
    assert payload["exp"] - payload["iat"] == 1800
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] == hashlib.sha256(KEY.encode()).hexdigest()[:16]


def test_jwt_ids_are_random(issuer: JwtTokenIssuer) -> None:
    user = make_user()
    tokens = {payload_of(issuer.issue_access(user, NOW).token)["jti"] for _ in range(20)}
    assert len(tokens) == 20


def test_jwt_ttl_is_configurable() -> None:
    issued = JwtTokenIssuer(KEY, ttl_seconds=60).issue_access(make_user(), NOW)
    assert issued.expires_in == 60


# JWT: key rotation ----------------------------------------------------------------------------


def test_jwt_token_of_a_previous_key_still_verifies() -> None:
    old_token = JwtTokenIssuer(OLD_KEY).issue_access(make_user(), NOW).token
    rotated = JwtTokenIssuer(KEY, previous_keys=[OLD_KEY])
    assert rotated.verify_access(old_token, NOW).user_id == make_user().id
    new_token = rotated.issue_access(make_user(), NOW).token
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(KEY)


def test_jwt_token_of_a_retired_key_fails() -> None:
    old_token = JwtTokenIssuer(OLD_KEY).issue_access(make_user(), NOW).token
    with pytest.raises(NotAuthenticated, match="unknown or retired key"):
        JwtTokenIssuer(KEY).verify_access(old_token, NOW)


def test_jwt_wrong_key_fails(issuer: JwtTokenIssuer) -> None:
    foreign = JwtTokenIssuer(OTHER_KEY).issue_access(make_user(), NOW).token
    with pytest.raises(NotAuthenticated):
        issuer.verify_access(foreign, NOW)


def test_jwt_known_kid_with_wrong_key_fails(issuer: JwtTokenIssuer) -> None:
    forged = forge(claims(), key=OTHER_KEY, kid=key_id(KEY))
    with pytest.raises(NotAuthenticated, match="signature is invalid"):
        issuer.verify_access(forged, NOW)


@pytest.mark.parametrize("kid", [None, 42, "", "0" * 16])
def test_jwt_missing_or_bad_kid_fails(issuer: JwtTokenIssuer, kid: object) -> None:
    header = {"alg": "HS256", "typ": "JWT"} | ({} if kid is None else {"kid": kid})
    signing_input = f"{b64json(header)}.{b64json(claims())}"
    signature = hmac.new(KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(NotAuthenticated, match=r"retired key|malformed"):
        issuer.verify_access(f"{signing_input}.{b64(signature)}", NOW)


# JWT: attacks and invalid tokens --------------------------------------------------------------


def test_jwt_tampered_payload_fails(issuer: JwtTokenIssuer) -> None:
    head, _, signature = issuer.issue_access(make_user(), NOW).token.split(".")
    escalated = b64json(claims(is_staff=True))
    with pytest.raises(NotAuthenticated, match="signature is invalid"):
        issuer.verify_access(f"{head}.{escalated}.{signature}", NOW)


def test_jwt_alg_none_fails(issuer: JwtTokenIssuer) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": key_id(KEY)}
    token = f"{b64json(header)}.{b64json(claims(is_staff=True))}."
    with pytest.raises(NotAuthenticated, match="HS256"):
        issuer.verify_access(token, NOW)


def test_jwt_other_hmac_algorithm_fails(issuer: JwtTokenIssuer) -> None:
    with pytest.raises(NotAuthenticated, match="HS256"):
        issuer.verify_access(forge(claims(), alg="HS512"), NOW)


def test_jwt_rs256_key_confusion_fails(issuer: JwtTokenIssuer) -> None:
    """The classic attack: an RS256 header, HMAC-signed with a key the verifier knows."""
    header = {"alg": "RS256", "typ": "JWT", "kid": key_id(KEY)}
    signing_input = f"{b64json(header)}.{b64json(claims(is_staff=True))}"
    signature = hmac.new(KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(NotAuthenticated, match="HS256"):
        issuer.verify_access(f"{signing_input}.{b64(signature)}", NOW)


def test_jwt_expired_fails(issuer: JwtTokenIssuer) -> None:
    token = issuer.issue_access(make_user(), NOW).token
    issuer.verify_access(token, NOW + timedelta(seconds=1799))
    with pytest.raises(NotAuthenticated, match="expired"):
        issuer.verify_access(token, NOW + timedelta(seconds=1800))


def test_jwt_not_yet_valid_fails_beyond_clock_skew(issuer: JwtTokenIssuer) -> None:
    token = issuer.issue_access(make_user(), NOW + timedelta(seconds=10)).token
    issuer.verify_access(token, NOW)
    later = issuer.issue_access(make_user(), NOW + timedelta(minutes=2)).token
    with pytest.raises(NotAuthenticated, match="not valid yet"):
        issuer.verify_access(later, NOW)


def test_jwt_future_nbf_fails(issuer: JwtTokenIssuer) -> None:
    future = int(NOW.timestamp()) + 600
    with pytest.raises(NotAuthenticated, match="not valid yet"):
        issuer.verify_access(forge(claims(nbf=future)), NOW)


def test_jwt_refresh_type_fails(issuer: JwtTokenIssuer) -> None:
    with pytest.raises(NotAuthenticated, match="not an access token"):
        issuer.verify_access(forge(claims(type="refresh")), NOW)


@pytest.mark.parametrize("claim", ["sub", "exp", "iat", "jti", "iss", "type", "email", "is_staff"])
def test_jwt_missing_claim_fails(issuer: JwtTokenIssuer, claim: str) -> None:
    payload = claims()
    del payload[claim]
    with pytest.raises(NotAuthenticated, match=claim):
        issuer.verify_access(forge(payload), NOW)


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "not-a-uuid"},
        {"sub": 12},
        {"email": 12},
        {"is_staff": "yes"},
        {"is_staff": 1},
        {"jti": 5},
        {"exp": "tomorrow"},
        {"exp": True},
        {"exp": 1e300},
        {"iat": "now"},
        {"session_generation": "1"},
        {"session_generation": True},
        {"session_generation": -1},
        {"session_generation": 1.5},
    ],
)
def test_jwt_malformed_claims_fail(issuer: JwtTokenIssuer, overrides: dict[str, Any]) -> None:
    with pytest.raises(NotAuthenticated):
        issuer.verify_access(forge(claims(**overrides)), NOW)


def test_jwt_carries_the_session_generation(issuer: JwtTokenIssuer) -> None:
    token = issuer.issue_access(make_user(), NOW, session_generation=7).token
    assert payload_of(token)["session_generation"] == 7
    assert issuer.verify_access(token, NOW).session_generation == 7


def test_jwt_from_before_session_generations_is_generation_zero(issuer: JwtTokenIssuer) -> None:
    assert "session_generation" not in claims()
    assert issuer.verify_access(forge(claims()), NOW).session_generation == 0


def test_jwt_other_issuer_fails(issuer: JwtTokenIssuer) -> None:
    with pytest.raises(NotAuthenticated, match="issued by someone else"):
        issuer.verify_access(forge(claims(iss="someone-else")), NOW)


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b.c", "a.b", "...", "Bearer x.y.z", "eyJhbGciOiJIUzI1NiJ9.e30."]
)
def test_jwt_garbage_fails(issuer: JwtTokenIssuer, garbage: str) -> None:
    with pytest.raises(NotAuthenticated):
        issuer.verify_access(garbage, NOW)


@given(st.text())
def test_jwt_any_text_is_refused_cleanly(text: str) -> None:
    with pytest.raises(NotAuthenticated):
        JwtTokenIssuer(KEY).verify_access(text, NOW)


# JWT: configuration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"signing_key": "short"}, "at least 32 bytes"),
        ({"signing_key": KEY, "previous_keys": ["short"]}, "at least 32 bytes"),
        ({"signing_key": "k" * 40, "algorithm": "HS512"}, "at least 64 bytes"),
        ({"signing_key": KEY, "algorithm": "RS256"}, "Unsupported"),
        ({"signing_key": KEY, "algorithm": "none"}, "Unsupported"),
        ({"signing_key": KEY, "ttl_seconds": 0}, "positive"),
        ({"signing_key": KEY, "issuer": ""}, "issuer"),
    ],
)
def test_jwt_refuses_unsafe_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JwtTokenIssuer(**kwargs)


def test_jwt_hs512_when_configured() -> None:
    issuer = JwtTokenIssuer(KEY, algorithm="HS512")
    token = issuer.issue_access(make_user(), NOW).token
    assert jwt.get_unverified_header(token)["alg"] == "HS512"
    assert issuer.verify_access(token, NOW).email == "ada@example.com"
    with pytest.raises(NotAuthenticated):
        issuer.verify_access(forge(claims(), alg="HS256"), NOW)


# Keyed secret digests -------------------------------------------------------------------------


def test_secret_hasher_is_hmac_sha256() -> None:
    digest = HmacSecretHasher(b"Jefe").digest("what do ya want for nothing?")
    assert digest == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


@given(st.text(), st.binary(min_size=1))
def test_secret_hasher_is_deterministic(secret: str, key: bytes) -> None:
    assert HmacSecretHasher(key).digest(secret) == HmacSecretHasher(key).digest(secret)


def test_secret_hasher_depends_on_key_and_secret() -> None:
    digest = HmacSecretHasher(b"key-one").digest("123456")
    assert digest != HmacSecretHasher(b"key-two").digest("123456")
    assert digest != HmacSecretHasher(b"key-one").digest("123457")
    assert digest != hashlib.sha256(b"123456").hexdigest()


def test_secret_hasher_refuses_empty_key() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        HmacSecretHasher(b"")


# Clock and ids --------------------------------------------------------------------------------


def test_system_clock_is_utc_aware() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert abs(now.timestamp() - time.time()) < 5


def test_uuid7_ids_are_standard_version_7_and_ordered() -> None:
    generator = Uuid7IdGenerator()
    ids = [generator.new_id() for _ in range(2000)]
    assert all(type(value) is uuid.UUID for value in ids)
    assert {value.version for value in ids} == {7}
    assert {value.variant for value in ids} == {uuid.RFC_4122}
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_uuid7_embeds_the_current_time() -> None:
    milliseconds = Uuid7IdGenerator().new_id().int >> 80
    assert abs(milliseconds / 1000 - time.time()) < 5
