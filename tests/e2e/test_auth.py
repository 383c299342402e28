"""``/api/v1/auth``: registration, login, refresh-token rotation with theft detection, logout,
and every way a forged, expired or misused token is refused (docs/api.md "Authentication")."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from adapters.security.jwt_tokens import JwtTokenIssuer, key_id
from entrypoints.bootstrap import Container, build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from support import PASSWORD, Api, Person, assert_problem, new_name, new_phone
from wallet_core.ports import UnitOfWork
from wallet_core.testing.fakes import ManualClock
from wallet_core.users import User

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
RFC3339_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
PROFILE_KEYS = {
    "id",
    "email",
    "username",
    "phone_number",
    "first_name",
    "last_name",
    "date_of_birth",
    "is_staff",
    "created_at",
}
OTHER_KEY = "another-signing-key-that-is-long-enough-0123456789"


def assert_unauthenticated(response: httpx.Response, code: str = "not_authenticated") -> None:
    assert_problem(response, 401, code)
    assert response.headers["www-authenticate"] == "Bearer"


def registration(**overrides: Any) -> dict[str, Any]:
    username = overrides.pop("username", new_name("reg"))
    body: dict[str, Any] = {
        "email": f"{username}@example.com",
        "username": username,
        "password": PASSWORD,
        "phone_number": new_phone(),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not _ABSENT}


_ABSENT = object()


async def find_user(container: Container, login: str) -> User | None:
    async def work(uow: UnitOfWork) -> User | None:
        return await uow.users.find_by_login(login)

    return await container.storage.run_read(work)


async def find_by_phone(container: Container, phone: str) -> User | None:
    async def work(uow: UnitOfWork) -> User | None:
        return await uow.users.find_by_phone(phone)

    return await container.storage.run_read(work)


async def deactivate(container: Container, user_id: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        user = await uow.users.get(uuid.UUID(user_id))
        assert user is not None
        await uow.users.update(replace(user, is_active=False))

    await container.storage.run(work)


async def login(client: httpx.AsyncClient, **body: str) -> httpx.Response:
    return await client.post(TOKEN, json=body)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Register ---------------------------------------------------------------------------------------


async def test_register_creates_user_and_usd_wallet(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = registration(first_name="  Ada ", last_name="Lovelace", date_of_birth="1990-12-10")
    response = await client.post(REGISTER, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"user", "wallet"}
    user, wallet = created["user"], created["wallet"]
    assert set(user) == PROFILE_KEYS
    assert "password" not in response.text
    assert "password_hash" not in response.text
    assert uuid.UUID(user["id"]).version == 7
    assert user["email"] == body["email"]
    assert user["username"] == body["username"]
    assert user["phone_number"] == body["phone_number"]
    assert user["first_name"] == "Ada"
    assert user["last_name"] == "Lovelace"
    assert user["date_of_birth"] == "1990-12-10"
    assert user["is_staff"] is False
    assert RFC3339_Z.match(user["created_at"]), user["created_at"]
    assert wallet["currency"] == "USD"
    assert wallet["owner"] == {"id": user["id"], "username": user["username"]}
    assert wallet["balance"] == wallet["available_balance"] == "0.00"
    assert wallet["is_active"] is True
    stored = await find_user(container, body["email"])
    assert stored is not None
    assert str(stored.id) == user["id"]
    assert stored.password_hash != PASSWORD
    assert PASSWORD not in stored.password_hash


async def test_register_optional_fields_default_and_trailing_slash(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(REGISTER + "/", json=registration())
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["first_name"] == user["last_name"] == ""
    assert user["date_of_birth"] is None


async def test_register_normalises_email_and_phone(client: httpx.AsyncClient) -> None:
    username = new_name("norm")
    phone = new_phone()
    digits = phone[1:]
    spaced = f"+{digits[0]} ({digits[1:4]}) {digits[4:7]}-{digits[7:]}"
    response = await client.post(
        REGISTER,
        json=registration(
            username=username, email=f"{username.upper()}@Example.COM", phone_number=spaced
        ),
    )
    assert response.status_code == 201, response.text
    user = response.json()["user"]
    assert user["email"] == f"{username}@example.com"
    assert user["phone_number"] == phone
    # Logging in with any casing of the email works.
    token = await login(client, email=f"{username}@EXAMPLE.com", password=PASSWORD)
    assert token.status_code == 200, token.text


@pytest.mark.parametrize("currency", ["EUR", "GBP", "LBP", "eur"])
async def test_register_in_another_currency(client: httpx.AsyncClient, currency: str) -> None:
    response = await client.post(REGISTER, json=registration(currency=currency))
    assert response.status_code == 201, response.text
    wallet = response.json()["wallet"]
    assert wallet["currency"] == currency.upper()
    assert wallet["balance"] == "0.00"


async def test_register_unsupported_currency_creates_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = registration(currency="XYZ")
    response = await client.post(REGISTER, json=body)
    problem = assert_problem(response, 422, "unsupported_currency")
    assert "XYZ" in problem["detail"]
    assert await find_user(container, body["email"]) is None


@pytest.mark.parametrize("currency", ["US", "USDT", 840])
async def test_register_malformed_currency_is_400(
    client: httpx.AsyncClient, container: Container, currency: Any
) -> None:
    body = registration(currency=currency)
    assert_problem(await client.post(REGISTER, json=body), 400, "validation_error")
    assert await find_user(container, body["email"]) is None


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda e: e.upper(), id="upper"),
        pytest.param(lambda e: e.capitalize(), id="capitalised"),
        pytest.param(lambda e: f"  {e}  ", id="padded"),
        pytest.param(lambda e: e, id="same"),
    ],
)
async def test_register_duplicate_email_is_409(
    client: httpx.AsyncClient, container: Container, variant: Callable[[str], str]
) -> None:
    first = registration()
    assert (await client.post(REGISTER, json=first)).status_code == 201
    second = registration(email=variant(first["email"]))
    assert_problem(await client.post(REGISTER, json=second), 409, "already_exists")
    assert await find_user(container, second["username"]) is None
    assert await find_by_phone(container, second["phone_number"]) is None


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda u: u, id="same"),
        pytest.param(lambda u: u.upper(), id="upper"),
    ],
)
async def test_register_duplicate_username_is_409(
    client: httpx.AsyncClient, container: Container, variant: Callable[[str], str]
) -> None:
    first = registration()
    assert (await client.post(REGISTER, json=first)).status_code == 201
    other = new_name("other")
    second = registration(username=variant(first["username"]), email=f"{other}@example.com")
    assert_problem(await client.post(REGISTER, json=second), 409, "already_exists")
    assert await find_user(container, second["email"]) is None


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda p: p, id="same"),
        pytest.param(lambda p: p[1:], id="without-plus"),
        pytest.param(lambda p: f"{p[:2]} {p[2:5]} {p[5:8]} {p[8:]}", id="spaces"),
        pytest.param(lambda p: f"{p[:2]}-({p[2:5]})-{p[5:8]}.{p[8:]}", id="dashes-dots"),
        pytest.param(lambda p: f"00{p[1:]}", id="double-zero"),
    ],
)
async def test_register_duplicate_phone_is_409(
    client: httpx.AsyncClient, container: Container, variant: Callable[[str], str]
) -> None:
    first = registration()
    assert (await client.post(REGISTER, json=first)).status_code == 201
    second = registration(phone_number=variant(first["phone_number"]))
    assert_problem(await client.post(REGISTER, json=second), 409, "already_exists")
    assert await find_user(container, second["email"]) is None


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("Sh0rt!pw", "short"),
        ("12345678901234", "numeric"),
        ("password1234", "common"),
        ("QWERTYUIOP", "common, any case"),
        ("{username}!", "username"),
        ("{username}", "username exactly"),
        ("{email}", "email"),
    ],
)
async def test_register_weak_password_is_422(
    client: httpx.AsyncClient, container: Container, password: str, why: str
) -> None:
    username = new_name("weak")
    email = f"{username}@example.com"
    body = registration(
        username=username,
        email=email,
        password=password.format(username=username, email=email),
    )
    problem = assert_problem(await client.post(REGISTER, json=body), 422, "weak_password")
    assert body["password"] not in problem["detail"]
    assert await find_user(container, email) is None, why


async def test_register_date_of_birth_today_is_fine_future_is_400(
    client: httpx.AsyncClient, container: Container
) -> None:
    today = datetime.now(UTC).date()
    ok = await client.post(REGISTER, json=registration(date_of_birth=today.isoformat()))
    assert ok.status_code == 201, ok.text
    assert ok.json()["user"]["date_of_birth"] == today.isoformat()
    future = registration(date_of_birth=(today + timedelta(days=2)).isoformat())
    problem = assert_problem(await client.post(REGISTER, json=future), 400, "validation_error")
    assert any(e["field"] == "date_of_birth" for e in problem.get("errors", [])), problem
    assert await find_user(container, future["email"]) is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"is_staff": True}, id="unknown-is_staff"),
        pytest.param({"balance": "1000.00"}, id="unknown-balance"),
        pytest.param({"email": 12345}, id="email-number"),
        pytest.param({"username": ["a", "b"]}, id="username-list"),
        pytest.param({"password": None}, id="password-null"),
        pytest.param({"phone_number": 14155550123}, id="phone-number-type"),
        pytest.param({"first_name": {"x": 1}}, id="first_name-object"),
        pytest.param({"date_of_birth": "yesterday"}, id="dob-text"),
        pytest.param({"date_of_birth": "1990-13-01"}, id="dob-month-13"),
        pytest.param({"date_of_birth": 19900101}, id="dob-number"),
        pytest.param({"email": _ABSENT}, id="missing-email"),
        pytest.param({"username": _ABSENT}, id="missing-username"),
        pytest.param({"password": _ABSENT}, id="missing-password"),
        pytest.param({"phone_number": _ABSENT}, id="missing-phone"),
        pytest.param({"email": "not-an-email"}, id="invalid-email"),
        pytest.param({"phone_number": "call me maybe"}, id="invalid-phone"),
        pytest.param({"phone_number": "+0123456789"}, id="phone-leading-zero"),
        pytest.param({"username": "has space"}, id="invalid-username"),
        pytest.param({"first_name": "x" * 151}, id="first_name-too-long"),
    ],
)
async def test_register_bad_input_is_400_and_creates_nothing(
    client: httpx.AsyncClient, container: Container, changes: dict[str, Any]
) -> None:
    body = registration(**changes)
    response = await client.post(REGISTER, json=body)
    assert_problem(response, 400, "validation_error")
    for login_name in (body.get("email"), body.get("username")):
        if isinstance(login_name, str):
            assert await find_user(container, login_name) is None
    if isinstance(body.get("phone_number"), str):
        assert await find_by_phone(container, "+" + body["phone_number"].lstrip("+")) is None


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"first_name": "Ada\u0000"}, id="first_name"),
        pytest.param({"last_name": "\u0000"}, id="last_name"),
        pytest.param({"email": "nul\u0000{username}@example.com"}, id="email"),
    ],
)
async def test_register_nul_characters_are_400_not_500(
    client: httpx.AsyncClient, container: Container, changes: dict[str, str]
) -> None:
    """PostgreSQL text cannot hold U+0000: that is bad input, never a server fault."""
    username = new_name("nul")
    body = registration(
        username=username, **{k: v.format(username=username) for k, v in changes.items()}
    )
    response = await client.post(REGISTER, json=body)
    assert_problem(response, 400, "validation_error")
    assert await find_user(container, username) is None


async def test_register_missing_field_names_it(client: httpx.AsyncClient) -> None:
    body = registration(password=_ABSENT)
    problem = assert_problem(await client.post(REGISTER, json=body), 400, "validation_error")
    assert "password" in json.dumps(problem)


@pytest.mark.parametrize(
    "content",
    [
        b'{"email": "a@b.c",',
        b"not json at all",
        b"[]",
        b'"a string"',
        b"",
        b'{"email": "\xff\xfe"}',
    ],
)
async def test_register_malformed_body_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        REGISTER, content=content, headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "validation_error")


async def test_register_oversized_body_is_413_and_creates_nothing(
    client: httpx.AsyncClient, container: Container
) -> None:
    body = registration(first_name="x" * (70 * 1024))
    response = await client.post(REGISTER, json=body)
    problem = assert_problem(response, 413, "payload_too_large")
    assert problem["title"] == "Content Too Large"
    assert await find_user(container, body["email"]) is None


async def test_register_oversized_streamed_body_is_413(
    client: httpx.AsyncClient, container: Container
) -> None:
    """No Content-Length to trust: the limit applies to what is actually read."""
    body = registration(first_name="y" * (70 * 1024))
    raw = json.dumps(body).encode()

    async def chunks() -> Any:
        for start in range(0, len(raw), 8192):
            yield raw[start : start + 8192]

    response = await client.post(
        REGISTER, content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")
    assert await find_user(container, body["email"]) is None


async def test_register_does_not_need_and_ignores_a_bearer(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, json=registration(), headers=bearer("garbage"))
    assert response.status_code == 201, response.text


# Token ------------------------------------------------------------------------------------------


async def test_token_by_email_and_by_username(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    for body in (
        {"email": person.email, "password": PASSWORD},
        {"email": person.email.upper(), "password": PASSWORD},
        {"username": person.username, "password": PASSWORD},
        {"email": person.username, "password": PASSWORD},
    ):
        response = await client.post(TOKEN, json=body)
        assert response.status_code == 200, (body, response.text)
        pair = response.json()
        assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert pair["token_type"] == "bearer"
        assert pair["expires_in"] == 1800
        assert pair["access_token"] != pair["refresh_token"]
        me = await client.get(ME, headers=bearer(pair["access_token"]))
        assert me.status_code == 200
        assert me.json()["id"] == person.id


async def test_access_token_claims(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    claims = jwt.decode(person.access_token, options={"verify_signature": False})
    assert claims["sub"] == person.id
    assert claims["type"] == "access"
    assert claims["email"] == person.email
    assert claims["is_staff"] is False
    assert claims["exp"] - claims["iat"] == 1800
    assert isinstance(claims["jti"], str)
    assert claims["jti"]
    header = jwt.get_unverified_header(person.access_token)
    assert header["alg"] == "HS256"
    second = await login(client, email=person.email, password=PASSWORD)
    other = jwt.decode(second.json()["access_token"], options={"verify_signature": False})
    assert other["jti"] != claims["jti"]


async def test_staff_access_token_says_so(api: Api) -> None:
    staff = await api.staff()
    claims = jwt.decode(staff.access_token, options={"verify_signature": False})
    assert claims["is_staff"] is True


async def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    wrong_password = await login(client, email=person.email, password="not the password 123")
    unknown_email = await login(client, email="nobody-" + person.email, password=PASSWORD)
    unknown_username = await login(client, username=new_name("ghost"), password=PASSWORD)
    bodies = []
    for response in (wrong_password, unknown_email, unknown_username):
        body = assert_problem(response, 401, "invalid_credentials")
        assert response.headers["www-authenticate"] == "Bearer"
        bodies.append({k: v for k, v in body.items() if k != "request_id"})
    assert bodies[0] == bodies[1] == bodies[2]
    assert person.email not in wrong_password.text


async def test_password_check_is_case_sensitive(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    response = await login(client, email=person.email, password=PASSWORD.upper())
    assert_problem(response, 401, "invalid_credentials")


async def test_inactive_user_cannot_log_in_or_refresh_or_use_tokens(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person()
    await deactivate(container, person.id)
    refused = await login(client, email=person.email, password=PASSWORD)
    assert_problem(refused, 401, "invalid_credentials")
    refresh = await client.post(REFRESH, json={"refresh_token": person.refresh_token})
    assert refresh.status_code == 401, refresh.text
    assert "access_token" not in refresh.text
    assert_unauthenticated(await client.get(ME, headers=person.headers))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"password": PASSWORD}, id="no-login"),
        pytest.param({"email": "a@example.com"}, id="no-password"),
        pytest.param({"email": "a@example.com", "password": 123}, id="password-number"),
        pytest.param({"email": None, "password": PASSWORD}, id="email-null-only"),
        pytest.param({"email": "a@example.com", "password": "x", "otp": "1"}, id="unknown"),
        pytest.param({"email": "", "password": PASSWORD}, id="empty-email"),
        pytest.param({}, id="empty"),
    ],
)
async def test_token_bad_body_is_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_problem(await client.post(TOKEN, json=body), 400, "validation_error")


@pytest.mark.parametrize("field", ["email", "username"])
async def test_token_nul_in_login_is_a_client_error(client: httpx.AsyncClient, field: str) -> None:
    response = await client.post(TOKEN, json={field: "nobody\u0000", "password": PASSWORD})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["code"] in ("validation_error", "invalid_credentials")


async def test_token_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        TOKEN, content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 400, "validation_error")


# Refresh ----------------------------------------------------------------------------------------


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    response = await refresh(client, person.refresh_token)
    assert response.status_code == 200, response.text
    pair = response.json()
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != person.refresh_token
    me = await client.get(ME, headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == person.id
    # The new refresh token rotates in turn.
    again = await refresh(client, pair["refresh_token"])
    assert again.status_code == 200, again.text


async def test_old_refresh_token_is_revoked_after_rotation(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    assert (await refresh(client, person.refresh_token)).status_code == 200
    reused = await refresh(client, person.refresh_token)
    assert_unauthenticated(reused, "token_revoked")
    assert "access_token" not in reused.text


async def test_reusing_a_rotated_token_revokes_the_whole_family(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    second = (await refresh(client, person.refresh_token)).json()["refresh_token"]
    third = (await refresh(client, second)).json()["refresh_token"]
    # The thief (or a replay) presents the first, already rotated token.
    assert_unauthenticated(await refresh(client, person.refresh_token), "token_revoked")
    # ...and the legitimate holder's newest token is dead too.
    assert_unauthenticated(await refresh(client, third), "token_revoked")
    assert_unauthenticated(await refresh(client, second), "token_revoked")
    # Another session (a separate login, its own family) is untouched.
    other = (await login(client, email=person.email, password=PASSWORD)).json()
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_succeed_once(
    client: httpx.AsyncClient, api: Api
) -> None:
    """Rotation is atomic: of five racing presentations of one token, exactly one gets a pair."""
    person = await api.person()
    responses = await asyncio.gather(*(refresh(client, person.refresh_token) for _ in range(5)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 401, 401, 401, 401], [r.text for r in responses]
    for response in responses:
        if response.status_code == 401:
            assert_unauthenticated(response, "token_revoked")


async def test_unknown_or_wrong_kind_of_refresh_token_is_401(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    for token in ("rt_" + "A" * 43, "garbage", person.access_token):
        response = await refresh(client, token)
        assert_unauthenticated(response)
        assert "access_token" not in response.text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"refresh_token": ""}, id="empty"),
        pytest.param({"refresh_token": 42}, id="number"),
        pytest.param({"refresh_token": None}, id="null"),
        pytest.param({"refresh_token": "x", "extra": 1}, id="unknown-field"),
        pytest.param({"refresh_token": "x" * 600}, id="too-long"),
    ],
)
async def test_refresh_bad_body_is_400(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    assert_problem(await client.post(REFRESH, json=body), 400, "validation_error")


async def test_refresh_token_expires(
    client: httpx.AsyncClient, api: Api, make_settings: Callable[..., Settings]
) -> None:
    """Past its 1-day lifetime (a clock two days ahead) a refresh token is refused."""
    person = await api.person()
    settings = make_settings()
    clock = ManualClock(datetime.now(UTC) + timedelta(days=2))
    later = build(settings, clock=clock)
    app = create_app(settings, later, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://later") as http:
            expired = await http.post(REFRESH, json={"refresh_token": person.refresh_token})
            stale_access = await http.get(ME, headers=person.headers)
    finally:
        await later.close()
    assert_unauthenticated(expired)
    assert "access_token" not in expired.text
    assert_unauthenticated(stale_access)
    # Now (the real clock) the same token is still good: the refusal came from its age.
    assert (await refresh(client, person.refresh_token)).status_code == 200


# Logout -----------------------------------------------------------------------------------------


async def test_logout_revokes_the_family(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    rotated = (await refresh(client, person.refresh_token)).json()
    response = await client.post(
        LOGOUT, json={"refresh_token": rotated["refresh_token"]}, headers=person.headers
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_unauthenticated(await refresh(client, rotated["refresh_token"]), "token_revoked")
    assert_unauthenticated(await refresh(client, person.refresh_token), "token_revoked")
    # A fresh login still works.
    assert (await login(client, email=person.email, password=PASSWORD)).status_code == 200


async def test_logout_leaves_other_sessions_alone(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    other = (await login(client, email=person.email, password=PASSWORD)).json()
    response = await client.post(
        LOGOUT, json={"refresh_token": person.refresh_token}, headers=person.headers
    )
    assert response.status_code == 204
    assert (await refresh(client, other["refresh_token"])).status_code == 200


async def test_logout_needs_a_bearer(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    response = await client.post(LOGOUT, json={"refresh_token": person.refresh_token})
    assert_unauthenticated(response)
    bad = await client.post(
        LOGOUT, json={"refresh_token": person.refresh_token}, headers=bearer("nonsense")
    )
    assert_unauthenticated(bad)
    # Nothing was revoked.
    assert (await refresh(client, person.refresh_token)).status_code == 200


async def test_logout_cannot_revoke_someone_elses_tokens(
    client: httpx.AsyncClient, api: Api
) -> None:
    victim = await api.person()
    attacker = await api.person()
    response = await client.post(
        LOGOUT, json={"refresh_token": victim.refresh_token}, headers=attacker.headers
    )
    assert response.status_code == 204
    assert (await refresh(client, victim.refresh_token)).status_code == 200


@pytest.mark.parametrize(
    "body", [{}, {"refresh_token": ""}, {"refresh_token": 1}, {"refresh_token": "x", "all": True}]
)
async def test_logout_bad_body_is_400(
    client: httpx.AsyncClient, api: Api, body: dict[str, Any]
) -> None:
    person = await api.person()
    response = await client.post(LOGOUT, json=body, headers=person.headers)
    assert_problem(response, 400, "validation_error")
    assert (await refresh(client, person.refresh_token)).status_code == 200


# Token attacks ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _claims(person: Person, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "sub": person.id,
        "iss": "digital-wallet",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "type": "access",
        "is_staff": False,
        "email": person.email,
    }
    claims.update(changes)
    return claims


def _user(person: Person) -> User:
    now = datetime.now(UTC)
    return User(
        id=uuid.UUID(person.id),
        email=person.email,
        username=person.username,
        phone_number=person.phone_number,
        password_hash="unused",
        created_at=now,
        updated_at=now,
    )


def tampered(person: Person, settings: Settings) -> str:
    header, payload, signature = person.access_token.split(".")
    claims = json.loads(_unb64(payload))
    claims["is_staff"] = True
    return ".".join((header, _b64(json.dumps(claims).encode()), signature))


def swapped_subject(person: Person, settings: Settings) -> str:
    header, payload, signature = person.access_token.split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = str(uuid.uuid4())
    return ".".join((header, _b64(json.dumps(claims).encode()), signature))


def expired(person: Person, settings: Settings) -> str:
    issuer = JwtTokenIssuer(settings.secret_key, ttl_seconds=60)
    return issuer.issue_access(_user(person), datetime.now(UTC) - timedelta(hours=1)).token


def expired_one_second(person: Person, settings: Settings) -> str:
    issuer = JwtTokenIssuer(settings.secret_key, ttl_seconds=1)
    return issuer.issue_access(_user(person), datetime.now(UTC) - timedelta(seconds=5)).token


def alg_none(person: Person, settings: Settings) -> str:
    header = {"alg": "none", "typ": "JWT", "kid": key_id(settings.secret_key)}
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(_claims(person)).encode())}."


def alg_none_with_signature(person: Person, settings: Settings) -> str:
    real_signature = person.access_token.split(".")[2]
    return alg_none(person, settings) + real_signature


def hs256_without_signature(person: Person, settings: Settings) -> str:
    header, payload, _ = person.access_token.split(".")
    return f"{header}.{payload}."


def other_key_same_kid(person: Person, settings: Settings) -> str:
    return jwt.encode(
        _claims(person),
        OTHER_KEY,
        algorithm="HS256",
        headers={"kid": key_id(settings.secret_key)},
    )


def other_key_own_kid(person: Person, settings: Settings) -> str:
    return JwtTokenIssuer(OTHER_KEY).issue_access(_user(person), datetime.now(UTC)).token


def other_algorithm(person: Person, settings: Settings) -> str:
    key = settings.secret_key * 2  # long enough for HS512
    return jwt.encode(
        _claims(person), key, algorithm="HS512", headers={"kid": key_id(settings.secret_key)}
    )


def refresh_type_claims(person: Person, settings: Settings) -> str:
    return jwt.encode(
        _claims(person, type="refresh"),
        settings.secret_key,
        algorithm="HS256",
        headers={"kid": key_id(settings.secret_key)},
    )


def other_issuer(person: Person, settings: Settings) -> str:
    return jwt.encode(
        _claims(person, iss="someone-else"),
        settings.secret_key,
        algorithm="HS256",
        headers={"kid": key_id(settings.secret_key)},
    )


def missing_exp(person: Person, settings: Settings) -> str:
    claims = _claims(person)
    del claims["exp"]
    return jwt.encode(
        claims, settings.secret_key, algorithm="HS256", headers={"kid": key_id(settings.secret_key)}
    )


def not_yet_valid(person: Person, settings: Settings) -> str:
    later = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    return jwt.encode(
        _claims(person, iat=later, nbf=later, exp=later + 600),
        settings.secret_key,
        algorithm="HS256",
        headers={"kid": key_id(settings.secret_key)},
    )


def refresh_token_as_bearer(person: Person, settings: Settings) -> str:
    return person.refresh_token


def garbage(person: Person, settings: Settings) -> str:
    return "this-is-not-a-token"


def three_dots_of_garbage(person: Person, settings: Settings) -> str:
    return "a.b.c"


TOKEN_ATTACKS: list[Callable[[Person, Settings], str]] = [
    tampered,
    swapped_subject,
    expired,
    expired_one_second,
    alg_none,
    alg_none_with_signature,
    hs256_without_signature,
    other_key_same_kid,
    other_key_own_kid,
    other_algorithm,
    refresh_type_claims,
    other_issuer,
    missing_exp,
    not_yet_valid,
    refresh_token_as_bearer,
    garbage,
    three_dots_of_garbage,
]


@pytest.mark.parametrize("forge", TOKEN_ATTACKS, ids=lambda f: f.__name__)
async def test_forged_or_misused_tokens_are_401(
    client: httpx.AsyncClient,
    api: Api,
    settings: Settings,
    forge: Callable[[Person, Settings], str],
) -> None:
    person = await api.person()
    token = forge(person, settings)
    for method, path in (("GET", ME), ("GET", "/api/v1/users"), ("GET", "/api/v1/wallet")):
        response = await client.request(method, path, headers=bearer(token))
        assert_unauthenticated(response)
        assert person.email not in response.text
    patched = await client.patch(ME, json={"first_name": "Mallory"}, headers=bearer(token))
    assert_unauthenticated(patched)
    me = await client.get(ME, headers=person.headers)
    assert me.status_code == 200
    assert me.json()["first_name"] == ""


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer    ", id="scheme-blank"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param("Token abc", id="other-scheme"),
    ],
)
async def test_missing_or_non_bearer_authorization_is_401(
    client: httpx.AsyncClient, value: str | None
) -> None:
    headers = {"Authorization": value} if value is not None else {}
    assert_unauthenticated(await client.get(ME, headers=headers))


async def test_token_of_a_user_that_does_not_exist_is_401(
    client: httpx.AsyncClient, settings: Settings, api: Api
) -> None:
    person = await api.person()
    ghost = replace(person, id=str(uuid.uuid4()))
    token = JwtTokenIssuer(settings.secret_key).issue_access(_user(ghost), datetime.now(UTC))
    assert_unauthenticated(await client.get(ME, headers=bearer(token.token)))


async def test_bearer_scheme_is_case_insensitive(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    response = await client.get(ME, headers={"Authorization": f"bearer {person.access_token}"})
    assert response.status_code == 200


async def test_access_token_expires_for_a_clock_far_ahead(
    api: Api, make_settings: Callable[..., Settings]
) -> None:
    """The same token, presented to a process whose clock is 31 minutes later, has expired."""
    person = await api.person()
    settings = make_settings()
    later = build(settings, clock=ManualClock(datetime.now(UTC) + timedelta(minutes=31)))
    app = create_app(settings, later, run_background_jobs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://later") as http:
            response = await http.get(ME, headers=person.headers)
            soon = build(settings, clock=ManualClock(datetime.now(UTC) + timedelta(minutes=29)))
            try:
                soon_app = create_app(settings, soon, run_background_jobs=False)
                soon_transport = httpx.ASGITransport(app=soon_app)
                async with httpx.AsyncClient(
                    transport=soon_transport, base_url="http://soon"
                ) as soon_http:
                    still_valid = await soon_http.get(ME, headers=person.headers)
            finally:
                await soon.close()
    finally:
        await later.close()
    assert_unauthenticated(response)
    assert still_valid.status_code == 200, still_valid.text
