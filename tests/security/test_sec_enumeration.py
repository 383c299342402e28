"""Account enumeration (docs/api.md "Authentication"). Registration may say 409 ``already_exists``
(contractual) but nothing about the existing account; a failed login answers the same whatever
failed (unknown user, wrong password, inactive user), in about the same time with production
argon2 parameters; a refresh token that is garbage and one that is merely unknown look alike,
and a revoked one says only ``token_revoked``."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
from sec_support import app_client

from entrypoints.bootstrap import Container, build
from entrypoints.settings import Settings
from support import PASSWORD, Api, Person, assert_problem, new_name, new_phone
from wallet_core.local import MemoryNotifier
from wallet_core.ports import UnitOfWork
from wallet_core.users import User

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
LOGOUT = "/api/v1/auth/logout"


def comparable(response: httpx.Response) -> tuple[int, str | None, dict[str, Any]]:
    """Status, WWW-Authenticate and the problem body without its request id."""
    body = {k: v for k, v in response.json().items() if k != "request_id"}
    return response.status_code, response.headers.get("www-authenticate"), body


async def find(container: Container, login: str) -> User | None:
    async def work(uow: UnitOfWork) -> User | None:
        return await uow.users.find_by_login(login)

    return await container.storage.run_read(work)


async def deactivate(container: Container, user_id: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        user = await uow.users.get(uuid.UUID(user_id))
        assert user is not None
        await uow.users.update(replace(user, is_active=False))

    await container.storage.run(work)


# Registration -----------------------------------------------------------------------------------


def owner_secrets(owner: Person, profile: dict[str, Any]) -> list[str]:
    return [
        owner.id,
        owner.email,
        owner.username,
        owner.phone_number,
        owner.phone_number.lstrip("+"),
        owner.wallet_id,
        profile["first_name"],
        profile["last_name"],
        profile["date_of_birth"],
    ]


async def test_duplicate_registration_reveals_nothing_about_the_owner(api: Api) -> None:
    profile = {"first_name": "Ownerfirst", "last_name": "Ownerlast", "date_of_birth": "1971-02-03"}
    owner = await api.person(**profile)
    secrets = owner_secrets(owner, profile)

    def attempt(**collision: str) -> dict[str, str]:
        username = new_name("dup")
        body = {
            "email": f"{username}@example.com",
            "username": username,
            "password": PASSWORD,
            "phone_number": new_phone(),
        }
        body.update(collision)
        return body

    digits = owner.phone_number[1:]
    attempts = {
        "email": attempt(email=owner.email.upper()),
        "username": attempt(username=owner.username.upper()),
        "phone": attempt(phone_number=f"00 {digits[:3]} {digits[3:]}"),
        "all-three": attempt(
            email=f"  {owner.email.title()} ",
            username=owner.username.upper(),
            phone_number=digits,
        ),
    }
    for name, body in attempts.items():
        response = await api.client.post(REGISTER, json=body)
        problem = assert_problem(response, 409, "already_exists")
        for secret in secrets:
            assert secret not in response.text, (name, secret, response.text)
        assert set(problem) <= {"type", "title", "status", "detail", "code", "request_id", "errors"}
        assert len(problem["detail"]) < 120, problem
        if name in ("username", "phone"):
            assert await find(api.container, body["email"]) is None, name


async def test_other_refusals_do_not_depend_on_whether_the_email_exists(api: Api) -> None:
    """Password policy and field validation run first: the same answer for a taken email."""
    owner = await api.person()
    fresh = f"{new_name('free')}@example.com"
    for changes in (
        {"password": "password1234"},  # common
        {"password": "short"},
        {"phone_number": "not a phone"},
        {"date_of_birth": "2999-01-01"},
        {"currency": "XYZ"},
    ):
        answers = []
        for email in (owner.email, fresh):
            username = new_name("enum")
            body = {
                "email": email,
                "username": username,
                "password": PASSWORD,
                "phone_number": new_phone(),
                **changes,
            }
            response = await api.client.post(REGISTER, json=body)
            assert response.status_code in (400, 422), response.text
            answers.append(comparable(response))
        assert answers[0] == answers[1], (changes, answers)
    assert await find(api.container, fresh) is None


# Login ------------------------------------------------------------------------------------------


async def test_every_failed_login_looks_the_same(api: Api) -> None:
    person = await api.person()
    inactive = await api.person()
    await deactivate(api.container, inactive.id)
    ghost = new_name("ghost")
    attempts = {
        "unknown email": {"email": f"{ghost}@example.com", "password": PASSWORD},
        "unknown username": {"username": ghost, "password": PASSWORD},
        "unknown username in email": {"email": ghost, "password": PASSWORD},
        "wrong password by email": {"email": person.email, "password": "wrong password 42"},
        "wrong password by username": {"username": person.username, "password": "Wrong pw 42!"},
        "wrong password, other casing": {"email": person.email.upper(), "password": "nope 12345"},
        "right password, wrong case": {"email": person.email, "password": PASSWORD.upper()},
        "inactive, right password": {"email": inactive.email, "password": PASSWORD},
        "inactive, wrong password": {"email": inactive.email, "password": "wrong password 42"},
        "phone number as login": {"email": person.phone_number, "password": PASSWORD},
        "user id as login": {"email": person.id, "password": PASSWORD},
    }
    answers = {}
    for name, body in attempts.items():
        response = await api.client.post(TOKEN, json=body)
        assert_problem(response, 401, "invalid_credentials")
        assert "access_token" not in response.text
        for secret in (person.email, person.username, inactive.email, person.id):
            assert secret not in response.text, (name, secret)
        answers[name] = comparable(response)
    assert len(set(map(repr, answers.values()))) == 1, answers


async def test_login_timing_does_not_tell_a_user_exists(
    make_settings: Callable[..., Settings],
) -> None:
    """With production argon2 parameters (t=3, 64 MiB), a wrong password for a real user and any
    password for a user that does not exist cost about the same: the median of ten of each,
    interleaved, are within a factor of two of each other."""
    settings = make_settings(ARGON2_TIME_COST="3", ARGON2_MEMORY_COST_KIB="65536")
    username = new_name("timing")
    container = build(settings, notifier=MemoryNotifier())
    try:
        async with app_client(settings, "10.77.0.1", container) as http:
            await timed_logins(http, container, username)
    finally:
        await container.close()


async def timed_logins(http: httpx.AsyncClient, container: Container, username: str) -> None:
    email = f"{username}@example.com"
    body = {"email": email, "username": username, "password": PASSWORD}
    created = await http.post(REGISTER, json={**body, "phone_number": new_phone()})
    assert created.status_code == 201, created.text
    stored = await find(container, email)
    assert stored is not None
    assert "m=65536,t=3" in stored.password_hash, stored.password_hash

    async def timed(body: dict[str, str]) -> float:
        started = time.perf_counter()
        response = await http.post(TOKEN, json=body)
        elapsed = time.perf_counter() - started
        assert_problem(response, 401, "invalid_credentials")
        return elapsed

    existing = {"email": email, "password": "not the password 123"}

    def missing() -> dict[str, str]:
        return {"email": f"{new_name('nobody')}@example.com", "password": PASSWORD}

    await timed(missing())  # warm up: the dummy hash an unknown user is checked against is lazy
    wrong_password, no_such_user = [], []
    for _ in range(10):  # interleaved, so that drift in machine load hits both alike
        wrong_password.append(await timed(existing))
        no_such_user.append(await timed(missing()))
    ratio = statistics.median(no_such_user) / statistics.median(wrong_password)
    print(
        f"\nlogin medians: wrong password {statistics.median(wrong_password) * 1000:.1f} ms, "
        f"unknown user {statistics.median(no_such_user) * 1000:.1f} ms, ratio {ratio:.2f}"
    )
    assert 0.5 <= ratio <= 2.0, (wrong_password, no_such_user)


# Refresh ----------------------------------------------------------------------------------------


async def test_refresh_refusals_reveal_nothing_about_the_account(api: Api) -> None:
    alice, bob = await api.person(), await api.person()
    # Revoke one token of each by logging out, and one by reuse (theft detection).
    for person in (alice, bob):
        logout = await api.client.post(
            LOGOUT, json={"refresh_token": person.refresh_token}, headers=person.headers
        )
        assert logout.status_code == 204
    carol = await api.person()
    rotated = await api.client.post(REFRESH, json={"refresh_token": carol.refresh_token})
    assert rotated.status_code == 200

    async def refresh(token: str) -> httpx.Response:
        response = await api.client.post(REFRESH, json={"refresh_token": token})
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
        assert "access_token" not in response.text
        for person in (alice, bob, carol):
            for secret in (person.id, person.email, person.username):
                assert secret not in response.text
        return response

    unknown = [
        await refresh("garbage"),
        await refresh("rt_" + "A" * 43),  # our format, but never issued
        await refresh("rt_" + uuid.uuid4().hex),
        await refresh(alice.access_token),  # an access token is no refresh token
    ]
    revoked = [
        await refresh(alice.refresh_token),
        await refresh(bob.refresh_token),
        await refresh(carol.refresh_token),  # reused after rotation
    ]
    for response in unknown:
        assert_problem(response, 401, "not_authenticated")
    assert len({repr(comparable(r)) for r in unknown}) == 1
    for response in revoked:
        assert_problem(response, 401, "token_revoked")
    # Whose token it was, and how it died (logout or theft detection), does not show.
    assert len({repr(comparable(r)) for r in revoked}) == 1
