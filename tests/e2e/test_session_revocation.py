"""Session revocation over HTTP (docs/api.md "Authentication"): once a user is
deactivated, changes their password or loses the staff role, every access token issued before is
refused with 401 ``token_revoked`` on every authenticated route, and so are their refresh tokens;
and the staff ``GET/PATCH /users/{id}`` that makes the first and the last of those changes.

Before the fix a deactivated user's token still moved money for up to 30 minutes: only
``/users/me`` read the user, every other route trusted the token.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest

from entrypoints.bootstrap import build
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from support import PASSWORD, Api, Person, assert_problem, idem
from wallet_core.local import MemoryNotifier
from wallet_core.testing.fakes import ManualClock

USERS = "/api/v1/users"
ME = "/api/v1/users/me"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
TX = "/api/v1/wallet/transactions"
NEW_PASSWORD = "a brand new passphrase 42"
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


def assert_revoked(response: httpx.Response) -> None:
    assert_problem(response, 401, "token_revoked")
    assert response.headers["www-authenticate"] == "Bearer"


async def patch_user(
    client: httpx.AsyncClient, staff: Person, user_id: str, **body: Any
) -> httpx.Response:
    return await client.patch(f"{USERS}/{user_id}", json=body, headers=staff.headers)


async def set_access(client: httpx.AsyncClient, staff: Person, user_id: str, **body: Any) -> Any:
    response = await patch_user(client, staff, user_id, **body)
    assert response.status_code == 200, response.text
    return response.json()


async def log_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Any:
    response = await client.post(TOKEN, json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def authenticated_operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    """Every (method, path) the served OpenAPI document says needs a bearer token."""
    document = (await client.get("/api/schema/openapi.json")).json()
    operations = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "patch", "put", "delete"} and operation.get("security"):
                operations.append((method.upper(), path))
    return operations


# Deactivation -----------------------------------------------------------------------------------


async def test_a_deactivated_users_token_is_refused_on_every_authenticated_route(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    staff = await api.staff()
    assert (await client.get(ME, headers=alice.headers)).status_code == 200
    await set_access(client, staff, alice.id, is_active=False)

    operations = await authenticated_operations(client)
    assert len(operations) >= 12, operations  # wallets, transactions, users, logout...
    for method, template in operations:
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), template)  # every id parameter
        response = await client.request(
            method,
            path,
            json={} if method != "GET" else None,
            headers={**alice.headers, **idem()},
        )
        assert response.status_code == 401, (method, template, response.text)
        assert_revoked(response)


async def test_a_deactivated_users_token_moves_no_money(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "50.00")
    await api.fund(bob, "10.00")
    incoming = await api.send(bob, alice, "4.00")
    assert incoming.status_code == 201, incoming.text
    staff = await api.staff()
    deactivated = await set_access(client, staff, alice.id, is_active=False)
    assert deactivated["is_active"] is False

    attempts = {
        "transfer": await api.send(alice, bob, "5.00"),
        "withdrawal": await client.post(
            TX,
            json={"type": "withdrawal", "amount": "5.00"},
            headers={**alice.headers, **idem()},
        ),
        "accept": await api.act(alice, incoming.json()["id"], "accept"),
        "open wallet": await client.post(
            "/api/v1/wallet", json={"currency": "EUR"}, headers=alice.headers
        ),
        "list wallets": await client.get("/api/v1/wallet", headers=alice.headers),
        "read wallet": await client.get(f"/api/v1/wallet/{alice.wallet_id}", headers=alice.headers),
        "list transactions": await client.get(TX, headers=alice.headers),
        "read transaction": await client.get(
            f"{TX}/{incoming.json()['id']}", headers=alice.headers
        ),
        "me": await client.get(ME, headers=alice.headers),
    }
    for name, response in attempts.items():
        assert response.status_code == 401, (name, response.text)
        assert_revoked(response)

    wallets = await client.get(
        "/api/v1/wallet", params={"user": alice.username}, headers=staff.headers
    )
    assert [w["currency"] for w in wallets.json()["results"]] == ["USD"]
    wallet = await api.wallet(staff, alice.wallet_id)
    assert (wallet["balance"], wallet["held_balance"], wallet["pending_incoming"]) == (
        "50.00",
        "0.00",
        "4.00",
    )
    transaction = await client.get(f"{TX}/{incoming.json()['id']}", headers=staff.headers)
    assert transaction.json()["status"] == "pending"
    await api.audit_clean()


async def test_deactivation_revokes_every_refresh_token_family_and_login(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    second = await log_in(client, alice.email)
    staff = await api.staff()
    await set_access(client, staff, alice.id, is_active=False)
    for refresh_token in (alice.refresh_token, second["refresh_token"]):
        refused = await client.post(REFRESH, json={"refresh_token": refresh_token})
        assert refused.status_code == 401, refused.text
        assert "access_token" not in refused.text
    login = await client.post(TOKEN, json={"email": alice.email, "password": PASSWORD})
    assert_problem(login, 401, "invalid_credentials")


async def test_reactivation_lets_the_user_in_again_but_revives_no_old_token(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice = await api.person()
    staff = await api.staff()
    await set_access(client, staff, alice.id, is_active=False)
    reactivated = await set_access(client, staff, alice.id, is_active=True)
    assert reactivated["is_active"] is True
    assert_revoked(await client.get("/api/v1/wallet", headers=alice.headers))
    refused = await client.post(REFRESH, json={"refresh_token": alice.refresh_token})
    assert refused.status_code == 401
    tokens = await log_in(client, alice.email)
    assert (await client.get("/api/v1/wallet", headers=bearer(tokens["access_token"]))).is_success


# Password change --------------------------------------------------------------------------------


async def test_a_password_change_ends_every_session_and_a_new_login_works(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    other_session = await log_in(client, alice.email)
    changed = await client.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text

    for token in (alice.access_token, other_session["access_token"]):
        assert_revoked(await client.get("/api/v1/wallet", headers=bearer(token)))
        assert_revoked(
            await client.post(
                TX,
                json={"type": "transfer", "amount": "1.00", "recipient": bob.username},
                headers={**bearer(token), **idem()},
            )
        )
    for refresh_token in (alice.refresh_token, other_session["refresh_token"]):
        refused = await client.post(REFRESH, json={"refresh_token": refresh_token})
        assert refused.status_code == 401, refused.text

    fresh = await log_in(client, alice.email, NEW_PASSWORD)
    sent = await client.post(
        TX,
        json={"type": "transfer", "amount": "1.00", "recipient": bob.username},
        headers={**bearer(fresh["access_token"]), **idem()},
    )
    assert sent.status_code == 201, sent.text
    rotated = await client.post(REFRESH, json={"refresh_token": fresh["refresh_token"]})
    assert rotated.status_code == 200, rotated.text
    assert (await client.get(ME, headers=bearer(rotated.json()["access_token"]))).is_success


@pytest.fixture
async def frozen(
    make_settings: Callable[..., Settings],
) -> AsyncIterator[tuple[httpx.AsyncClient, Api]]:
    """An app whose clock never moves: everything below happens in one and the same instant."""
    container = build(
        make_settings(), clock=ManualClock(datetime.now(UTC)), notifier=MemoryNotifier()
    )
    app = create_app(container.settings, container, run_background_jobs=False)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://frozen"
        ) as http:
            yield http, Api(http, container)
    finally:
        await container.close()


async def test_a_login_in_the_same_second_as_the_password_change_works(
    frozen: tuple[httpx.AsyncClient, Api],
) -> None:
    """``iat`` has whole seconds: a "valid after" instant would refuse this login's token or
    accept the old one. The session generation does neither."""
    client, api = frozen
    alice = await api.person()
    changed = await client.patch(
        ME, json={"password": NEW_PASSWORD, "current_password": PASSWORD}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    fresh = await log_in(client, alice.email, NEW_PASSWORD)

    old_claims = jwt.decode(alice.access_token, options={"verify_signature": False})
    new_claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
    assert old_claims["iat"] == new_claims["iat"]
    assert_revoked(await client.get(ME, headers=alice.headers))
    assert (await client.get(ME, headers=bearer(fresh["access_token"]))).status_code == 200


# Losing the staff role --------------------------------------------------------------------------


async def test_losing_the_staff_role_takes_staff_powers_on_the_next_request(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    eve, victim = await api.person(), await api.person()
    promoted = await set_access(client, staff, eve.id, is_staff=True)
    assert promoted["is_staff"] is True
    eve_staff = await log_in(client, eve.email)
    as_staff = bearer(eve_staff["access_token"])
    assert (await client.get(USERS, headers=as_staff)).status_code == 200

    await set_access(client, staff, eve.id, is_staff=False)

    deposit = {"type": "deposit", "amount": "1000.00", "wallet_id": eve.wallet_id}
    assert_revoked(await client.post(TX, json=deposit, headers={**as_staff, **idem()}))
    assert_revoked(await client.get(USERS, headers=as_staff))
    assert_revoked(await patch_user(client, eve, victim.id, is_active=False))
    assert_revoked(
        await client.patch(f"{USERS}/{victim.id}", json={"is_active": False}, headers=as_staff)
    )
    refused = await client.post(REFRESH, json={"refresh_token": eve_staff["refresh_token"]})
    assert refused.status_code == 401
    again = bearer((await log_in(client, eve.email))["access_token"])
    assert_problem(await client.get(USERS, headers=again), 403, "forbidden")
    assert_problem(await client.post(TX, json=deposit, headers={**again, **idem()}), 403)
    assert (await set_access(client, staff, victim.id))["is_active"] is True
    assert (await api.wallet(staff, eve.wallet_id))["balance"] == "0.00"


# GET / PATCH /users/{id} ------------------------------------------------------------------------


async def test_staff_read_a_users_account(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person(first_name="Alice")
    staff = await api.staff()
    response = await client.get(f"{USERS}/{alice.id}/", headers=staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PROFILE_KEYS | {"is_active"}
    assert (body["id"], body["email"], body["first_name"]) == (alice.id, alice.email, "Alice")
    assert (body["is_active"], body["is_staff"]) == (True, False)
    assert "password" not in response.text


async def test_unknown_users_are_404(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    ghost = uuid.uuid4()
    assert_problem(await client.get(f"{USERS}/{ghost}", headers=staff.headers), 404, "not_found")
    assert_problem(await patch_user(client, staff, str(ghost), is_active=False), 404, "not_found")
    assert_problem(await client.get(f"{USERS}/not-a-uuid", headers=staff.headers), 404)


async def test_to_non_staff_every_user_is_404_whatever_the_body(
    client: httpx.AsyncClient, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    for target in (bob.id, alice.id, str(uuid.uuid4())):
        read = await client.get(f"{USERS}/{target}", headers=alice.headers)
        assert_problem(read, 404, "not_found")
        for body in ({"is_staff": True}, {"is_active": None}, {"nope": 1}, []):
            changed = await client.patch(f"{USERS}/{target}", json=body, headers=alice.headers)
            assert_problem(changed, 404, "not_found")
    assert_problem(await client.get(f"{USERS}/{bob.id}"), 401, "not_authenticated")
    assert (await client.get(ME, headers=alice.headers)).json()["is_staff"] is False
    assert (await client.get(ME, headers=bob.headers)).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"is_active": None}, id="null"),
        pytest.param({"is_active": "false"}, id="string"),
        pytest.param({"is_staff": 0}, id="number"),
        pytest.param({"is_active": False, "email": "x@example.com"}, id="unknown-field"),
        pytest.param([{"is_active": False}], id="array"),
    ],
)
async def test_bad_patch_bodies_are_400_and_change_nothing(
    client: httpx.AsyncClient, api: Api, body: Any
) -> None:
    alice = await api.person()
    staff = await api.staff()
    response = await client.patch(f"{USERS}/{alice.id}", json=body, headers=staff.headers)
    assert_problem(response, 400, "validation_error")
    assert (await client.get(ME, headers=alice.headers)).status_code == 200


async def test_absent_fields_are_left_alone(client: httpx.AsyncClient, api: Api) -> None:
    alice = await api.person()
    staff = await api.staff()
    assert (await set_access(client, staff, alice.id, is_staff=True))["is_active"] is True
    body = await set_access(client, staff, alice.id, is_active=False)
    assert (body["is_staff"], body["is_active"]) == (True, False)
    assert await set_access(client, staff, alice.id) == body


async def test_staff_cannot_deactivate_or_demote_themselves(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    for body in ({"is_active": False}, {"is_staff": False}, {"is_active": False, "is_staff": True}):
        assert_problem(await patch_user(client, staff, staff.id, **body), 403, "forbidden")
    assert (await client.get(USERS, headers=staff.headers)).status_code == 200


async def test_a_deactivation_racing_a_profile_change_wins(
    client: httpx.AsyncClient, api: Api
) -> None:
    """The profile change re-reads the user under a lock: it never writes back a stale
    ``is_active``, so a racing deactivation is never undone."""
    staff = await api.staff()
    people = [await api.person() for _ in range(6)]
    await asyncio.gather(
        *(
            call
            for person in people
            for call in (
                client.patch(ME, json={"first_name": "Racer"}, headers=person.headers),
                patch_user(client, staff, person.id, is_active=False),
            )
        )
    )
    for person in people:
        account = (await client.get(f"{USERS}/{person.id}", headers=staff.headers)).json()
        assert account["is_active"] is False, account
        login = await client.post(TOKEN, json={"email": person.email, "password": PASSWORD})
        assert login.status_code == 401
