"""``/api/v1/users``: the caller's profile (read and change, never anyone else's) and the staff
list with its filters and both kinds of pagination (docs/api.md "Authentication", "Pagination")."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from entrypoints.bootstrap import Container
from support import PASSWORD, Api, Person, assert_problem, new_name
from wallet_core.ports import UnitOfWork
from wallet_core.users import User

ME = "/api/v1/users/me"
USERS = "/api/v1/users"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/token/refresh"
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
NEW_PASSWORD = "a brand new passphrase 42"


async def stored_user(container: Container, user_id: str) -> User:
    async def work(uow: UnitOfWork) -> User | None:
        return await uow.users.get(uuid.UUID(user_id))

    user = await container.storage.run_read(work)
    assert user is not None
    return user


async def deactivate(container: Container, user_id: str) -> None:
    async def work(uow: UnitOfWork) -> None:
        user = await uow.users.get(uuid.UUID(user_id))
        assert user is not None
        await uow.users.update(replace(user, is_active=False))

    await container.storage.run(work)


async def profile(client: httpx.AsyncClient, person: Person) -> dict[str, Any]:
    response = await client.get(ME, headers=person.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_users(client: httpx.AsyncClient, staff: Person, **params: Any) -> dict[str, Any]:
    response = await client.get(USERS, params=params, headers=staff.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# GET /users/me ----------------------------------------------------------------------------------


async def test_me_returns_the_callers_profile(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person(first_name="Grace", last_name="Hopper", date_of_birth="1906-12-09")
    body = await profile(client, person)
    assert set(body) == PROFILE_KEYS
    assert body["id"] == person.id
    assert body["email"] == person.email
    assert body["username"] == person.username
    assert body["phone_number"] == person.phone_number
    assert body["first_name"] == "Grace"
    assert body["last_name"] == "Hopper"
    assert body["date_of_birth"] == "1906-12-09"
    assert body["is_staff"] is False
    assert body["created_at"].endswith("Z")
    assert (await client.get(ME + "/", headers=person.headers)).json()["id"] == person.id


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert_problem(response, 401, "not_authenticated")
    assert response.headers["www-authenticate"] == "Bearer"


async def test_me_of_a_deactivated_user_is_401(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person()
    await deactivate(container, person.id)
    assert_problem(await client.get(ME, headers=person.headers), 401, "not_authenticated")
    patched = await client.patch(ME, json={"first_name": "Zombie"}, headers=person.headers)
    assert_problem(patched, 401, "not_authenticated")
    assert (await stored_user(container, person.id)).first_name == ""


# PATCH /users/me --------------------------------------------------------------------------------


async def test_patch_names_and_date_of_birth(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person(first_name="Old", last_name="Name")
    response = await client.patch(
        ME,
        json={"first_name": " New ", "last_name": "Surname", "date_of_birth": "2000-02-29"},
        headers=person.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == PROFILE_KEYS
    assert body["first_name"] == "New"
    assert body["last_name"] == "Surname"
    assert body["date_of_birth"] == "2000-02-29"
    assert await profile(client, person) == body
    stored = await stored_user(container, person.id)
    assert (stored.first_name, stored.last_name) == ("New", "Surname")
    assert stored.date_of_birth is not None
    assert stored.date_of_birth.isoformat() == "2000-02-29"


async def test_patch_absent_fields_are_kept(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person(first_name="Keep", last_name="Me", date_of_birth="1980-01-01")
    response = await client.patch(ME, json={"last_name": "Changed"}, headers=person.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["first_name"] == "Keep"
    assert body["last_name"] == "Changed"
    assert body["date_of_birth"] == "1980-01-01"
    empty = await client.patch(ME, json={}, headers=person.headers)
    assert empty.status_code == 200
    assert {k: v for k, v in empty.json().items()} == body


async def test_patch_null_date_of_birth_clears_it(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person(date_of_birth="1970-05-05")
    response = await client.patch(ME, json={"date_of_birth": None}, headers=person.headers)
    assert response.status_code == 200, response.text
    assert response.json()["date_of_birth"] is None
    assert (await profile(client, person))["date_of_birth"] is None
    assert (await stored_user(container, person.id)).date_of_birth is None


async def test_patch_names_can_be_emptied(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person(first_name="Some", last_name="Body")
    response = await client.patch(
        ME, json={"first_name": "", "last_name": ""}, headers=person.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == response.json()["last_name"] == ""


async def test_patch_future_date_of_birth_is_400(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person(date_of_birth="1999-09-09")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=2)).isoformat()
    response = await client.patch(ME, json={"date_of_birth": tomorrow}, headers=person.headers)
    assert_problem(response, 400, "validation_error")
    stored = await stored_user(container, person.id)
    assert stored.date_of_birth is not None
    assert stored.date_of_birth.isoformat() == "1999-09-09"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"email": "new@example.com"}, id="email"),
        pytest.param({"username": "renamed"}, id="username"),
        pytest.param({"phone_number": "+14155550000"}, id="phone"),
        pytest.param({"is_staff": True}, id="is_staff"),
        pytest.param({"is_active": False}, id="is_active"),
        pytest.param({"id": str(uuid.uuid4())}, id="id"),
        pytest.param({"first_name": None}, id="first_name-null"),
        pytest.param({"first_name": 5}, id="first_name-number"),
        pytest.param({"last_name": ["x"]}, id="last_name-list"),
        pytest.param({"date_of_birth": "31/12/1990"}, id="dob-format"),
        pytest.param({"date_of_birth": 0}, id="dob-number"),
        pytest.param({"first_name": "x" * 151}, id="first_name-too-long"),
        pytest.param({"password": 1234567890}, id="password-number"),
    ],
)
async def test_patch_bad_input_is_400_and_changes_nothing(
    client: httpx.AsyncClient, api: Api, container: Container, body: dict[str, Any]
) -> None:
    person = await api.person(first_name="Stable")
    before = await stored_user(container, person.id)
    response = await client.patch(
        ME, json={"first_name": "Changed", **body}, headers=person.headers
    )
    assert_problem(response, 400, "validation_error")
    after = await stored_user(container, person.id)
    assert after == before
    assert after.first_name == "Stable"
    assert after.is_staff is False


@pytest.mark.parametrize(
    "content",
    [b'{"first_name": "x"', b"first_name=x", b"[1, 2]", b"null"],
)
async def test_patch_malformed_json_is_400_and_changes_nothing(
    client: httpx.AsyncClient, api: Api, container: Container, content: bytes
) -> None:
    person = await api.person(first_name="Stable")
    before = await stored_user(container, person.id)
    response = await client.patch(
        ME, content=content, headers={**person.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 400, "validation_error")
    assert await stored_user(container, person.id) == before


async def test_patch_nul_character_is_400_and_changes_nothing(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person(first_name="Stable")
    before = await stored_user(container, person.id)
    response = await client.patch(
        ME, json={"first_name": "Nul\u0000l", "last_name": "x"}, headers=person.headers
    )
    assert_problem(response, 400, "validation_error")
    assert await stored_user(container, person.id) == before


async def test_patch_oversized_body_is_413_and_changes_nothing(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person(first_name="Stable")
    before = await stored_user(container, person.id)
    response = await client.patch(
        ME, json={"first_name": "Big", "last_name": "z" * (65 * 1024)}, headers=person.headers
    )
    assert_problem(response, 413, "payload_too_large")
    assert await stored_user(container, person.id) == before


async def test_patch_only_changes_the_caller(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person(first_name="Alice")
    bob = await api.person(first_name="Bob", date_of_birth="1985-03-03")
    bob_before = await stored_user(container, bob.id)
    response = await client.patch(
        ME, json={"first_name": "Eve", "date_of_birth": None}, headers=alice.headers
    )
    assert response.status_code == 200
    assert response.json()["id"] == alice.id
    assert await stored_user(container, bob.id) == bob_before
    assert (await profile(client, bob))["first_name"] == "Bob"
    # Naming the other user in the body is refused, not obeyed.
    aimed = await client.patch(
        ME, json={"id": bob.id, "first_name": "Mallory"}, headers=alice.headers
    )
    assert_problem(aimed, 400, "validation_error")
    assert await stored_user(container, bob.id) == bob_before
    assert (await stored_user(container, alice.id)).first_name == "Eve"


async def test_no_route_reads_or_changes_another_user(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    alice = await api.person()
    bob = await api.person(first_name="Bob")
    bob_before = await stored_user(container, bob.id)
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await client.request(
            method, f"{USERS}/{bob.id}", json={"first_name": "Mallory"}, headers=alice.headers
        )
        assert response.status_code in (404, 405), (method, response.text)
        assert bob.email not in response.text
        assert bob.phone_number not in response.text
    listed = await client.get(USERS, params={"email": bob.email}, headers=alice.headers)
    assert_problem(listed, 403, "forbidden")
    assert bob.email not in listed.text
    assert await stored_user(container, bob.id) == bob_before


# Password change --------------------------------------------------------------------------------


async def login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post(TOKEN, json={"email": email, "password": password})
    return response.status_code


async def test_password_change(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    response = await client.patch(
        ME,
        json={"password": NEW_PASSWORD, "current_password": PASSWORD},
        headers=person.headers,
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == PROFILE_KEYS
    assert NEW_PASSWORD not in response.text
    old = await client.post(TOKEN, json={"email": person.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    assert await login_status(client, person.email, NEW_PASSWORD) == 200
    # Sessions that knew the old password are ended.
    stale = await client.post(REFRESH, json={"refresh_token": person.refresh_token})
    assert stale.status_code == 401
    assert "access_token" not in stale.text


async def test_password_change_with_names_in_one_request(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    response = await client.patch(
        ME,
        json={"first_name": "Both", "password": NEW_PASSWORD, "current_password": PASSWORD},
        headers=person.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["first_name"] == "Both"
    assert await login_status(client, person.email, NEW_PASSWORD) == 200


@pytest.mark.parametrize(
    "current",
    [
        pytest.param(None, id="missing"),
        pytest.param("wrong password here", id="wrong"),
        pytest.param(PASSWORD.upper(), id="wrong-case"),
    ],
)
async def test_password_change_needs_the_current_password(
    client: httpx.AsyncClient, api: Api, container: Container, current: str | None
) -> None:
    person = await api.person(first_name="Same")
    before = await stored_user(container, person.id)
    body: dict[str, Any] = {"password": NEW_PASSWORD, "first_name": "Other"}
    if current is not None:
        body["current_password"] = current
    response = await client.patch(ME, json=body, headers=person.headers)
    problem = assert_problem(response, 400, "validation_error")
    assert any(e["field"] == "current_password" for e in problem["errors"]), problem
    assert await stored_user(container, person.id) == before
    assert await login_status(client, person.email, PASSWORD) == 200
    assert await login_status(client, person.email, NEW_PASSWORD) == 401


@pytest.mark.parametrize(
    "new_password",
    ["short1!", "98765432101234", "qwertyuiop", "{username}", "{username}2024"],
)
async def test_weak_new_password_is_422(
    client: httpx.AsyncClient, api: Api, container: Container, new_password: str
) -> None:
    person = await api.person()
    before = await stored_user(container, person.id)
    candidate = new_password.format(username=person.username)
    response = await client.patch(
        ME,
        json={"password": candidate, "current_password": PASSWORD},
        headers=person.headers,
    )
    assert_problem(response, 422, "weak_password")
    assert await stored_user(container, person.id) == before
    assert await login_status(client, person.email, PASSWORD) == 200
    # The session survives a refused change.
    refreshed = await client.post(REFRESH, json={"refresh_token": person.refresh_token})
    assert refreshed.status_code == 200


async def test_current_password_alone_changes_nothing(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    person = await api.person()
    before = await stored_user(container, person.id)
    response = await client.patch(ME, json={"current_password": PASSWORD}, headers=person.headers)
    assert response.status_code == 200, response.text
    after = await stored_user(container, person.id)
    assert after.password_hash == before.password_hash
    assert await login_status(client, person.email, PASSWORD) == 200


# GET /users (staff) -----------------------------------------------------------------------------


async def test_list_users_is_staff_only(client: httpx.AsyncClient, api: Api) -> None:
    person = await api.person()
    forbidden = await client.get(USERS, headers=person.headers)
    assert_problem(forbidden, 403, "forbidden")
    assert "results" not in forbidden.text
    unauthenticated = await client.get(USERS)
    assert_problem(unauthenticated, 401, "not_authenticated")


async def test_list_users_for_staff(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    marker = new_name("list")
    person = await api.person(first_name=marker)
    page = await list_users(client, staff, first_name=marker)
    assert set(page) >= {"count", "next", "previous", "results"}
    assert page["count"] == 1
    assert page["next"] is None
    assert page["previous"] is None
    (row,) = page["results"]
    assert set(row) == PROFILE_KEYS
    assert row["id"] == person.id
    assert row["email"] == person.email
    assert "password" not in str(page)
    with_slash = await client.get(USERS + "/", params={"first_name": marker}, headers=staff.headers)
    assert with_slash.status_code == 200
    assert with_slash.json()["results"][0]["id"] == person.id


async def test_list_users_text_filters_are_case_insensitive_contains(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    marker = uuid.uuid4().hex[:10]
    first = await api.person(
        username=f"cf_{marker}_a", first_name=f"Jo{marker}hn", last_name=f"Sm{marker}ith"
    )
    second = await api.person(
        username=f"cf_{marker}_b", first_name=f"Ja{marker}ne", last_name=f"Do{marker}e"
    )
    both = {first.id, second.id}

    async def ids(**params: Any) -> set[str]:
        return {u["id"] for u in (await list_users(client, staff, **params))["results"]}

    assert await ids(email=marker.upper()) == both
    assert await ids(email=f"CF_{marker}_A@EXAMPLE") == {first.id}
    assert await ids(first_name=f"jo{marker.upper()}H") == {first.id}
    assert await ids(first_name=marker) == both
    assert await ids(last_name=f"{marker}ITH") == {first.id}
    assert await ids(last_name=f"DO{marker}") == {second.id}
    # Filters combine with AND.
    assert await ids(email=marker, first_name="ja") == {second.id}
    assert await ids(first_name=f"jo{marker}", last_name=f"do{marker}") == set()
    assert await ids(email=f"{marker}-nobody") == set()


async def test_list_users_like_wildcards_are_literal(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    marker = uuid.uuid4().hex[:10]
    percent = await api.person(last_name=f"{marker}a%b")
    underscore = await api.person(last_name=f"{marker}a_b")
    plain = await api.person(last_name=f"{marker}axb")
    backslash = await api.person(last_name=f"{marker}a\\b")

    async def ids(value: str) -> set[str]:
        return {u["id"] for u in (await list_users(client, staff, last_name=value))["results"]}

    assert await ids(f"{marker}a%b") == {percent.id}
    assert await ids(f"{marker}a_b") == {underscore.id}
    assert await ids(f"{marker}a\\b") == {backslash.id}
    assert await ids(f"{marker}axb") == {plain.id}
    assert await ids(f"{marker}a%") == {percent.id}
    assert await ids(f"{marker}a_") == {underscore.id}
    assert await ids(f"{marker}a\\") == {backslash.id}
    assert await ids(marker) == {percent.id, underscore.id, plain.id, backslash.id}
    # A lone wildcard matches only names that contain it, not every user.
    everyone = (await list_users(client, staff, page_size=1))["count"]
    only_percent = (await list_users(client, staff, last_name="%"))["count"]
    assert 1 <= only_percent < everyone
    email_wildcard = await list_users(client, staff, email="%")
    assert email_wildcard["count"] == 0


async def test_list_users_boolean_filters(
    client: httpx.AsyncClient, api: Api, container: Container
) -> None:
    staff = await api.staff()
    marker = new_name("flag")
    active = await api.person(first_name=marker)
    inactive = await api.person(first_name=marker)
    await deactivate(container, inactive.id)

    async def ids(**params: Any) -> set[str]:
        return {u["id"] for u in (await list_users(client, staff, **params))["results"]}

    assert await ids(first_name=marker) == {active.id, inactive.id}
    assert await ids(first_name=marker, is_active="false") == {inactive.id}
    assert await ids(first_name=marker, is_active="true") == {active.id}
    assert await ids(first_name=marker, is_staff="true") == set()
    assert await ids(first_name=marker, is_staff="false") == {active.id, inactive.id}
    staff_only = await list_users(client, staff, is_staff="true", email=staff.email)
    assert [u["id"] for u in staff_only["results"]] == [staff.id]
    assert staff_only["results"][0]["is_staff"] is True
    all_staff = await list_users(client, staff, is_staff="true", page_size=100)
    assert all(u["is_staff"] for u in all_staff["results"])
    not_staff = await list_users(client, staff, is_staff="false", page_size=100)
    assert not any(u["is_staff"] for u in not_staff["results"])
    assert staff.id not in {u["id"] for u in not_staff["results"]}


async def test_list_users_page_number_pagination(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    marker = new_name("page")
    people = [await api.person(last_name=marker) for _ in range(5)]
    expected = [p.id for p in people]  # default ordering: oldest first

    first = await list_users(client, staff, last_name=marker, page_size=2)
    assert first["count"] == 5
    assert [u["id"] for u in first["results"]] == expected[:2]
    assert first["previous"] is None
    assert first["next"] is not None
    assert first["next_cursor"]
    query = parse_qs(urlsplit(first["next"]).query)
    assert query["page"] == ["2"]
    assert query["page_size"] == ["2"]
    assert query["last_name"] == [marker]

    second_response = await client.get(first["next"], headers=staff.headers)
    assert second_response.status_code == 200, second_response.text
    second = second_response.json()
    assert [u["id"] for u in second["results"]] == expected[2:4]
    assert second["previous"] is not None
    assert second["next"] is not None

    third = await list_users(client, staff, last_name=marker, page_size=2, page=3)
    assert [u["id"] for u in third["results"]] == expected[4:]
    assert third["next"] is None
    assert third.get("next_cursor") is None
    assert parse_qs(urlsplit(third["previous"]).query)["page"] == ["2"]

    beyond = await list_users(client, staff, last_name=marker, page_size=2, page=9)
    assert beyond["results"] == []
    assert beyond["count"] == 5

    default = await list_users(client, staff, last_name=marker)
    assert len(default["results"]) == 5
    assert default["next"] is None


async def test_list_users_cursor_pagination(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    marker = new_name("cursor")
    people = [await api.person(last_name=marker) for _ in range(5)]
    expected = [p.id for p in people]

    seen: list[str] = []
    page = await list_users(client, staff, last_name=marker, page_size=2)
    seen += [u["id"] for u in page["results"]]
    cursors = 0
    while page.get("next_cursor"):
        cursors += 1
        assert cursors < 10
        page = await list_users(
            client, staff, last_name=marker, page_size=2, cursor=page["next_cursor"]
        )
        assert "next_cursor" in page
        assert page["previous"] is None
        seen += [u["id"] for u in page["results"]]
        if page["next_cursor"]:
            assert page["next"] is not None
            next_query = parse_qs(urlsplit(page["next"]).query)
            assert next_query["cursor"] == [page["next_cursor"]]
            assert "page" not in next_query
    assert seen == expected
    assert cursors == 2

    # Descending by username, also through the cursor.
    ordered = sorted(people, key=lambda p: p.username, reverse=True)
    page = await list_users(client, staff, last_name=marker, page_size=3, ordering="-username")
    names = [u["username"] for u in page["results"]]
    page = await list_users(
        client,
        staff,
        last_name=marker,
        page_size=3,
        ordering="-username",
        cursor=page["next_cursor"],
    )
    names += [u["username"] for u in page["results"]]
    assert names == [p.username for p in ordered]
    assert page["next_cursor"] is None


async def test_list_users_cursor_survives_new_rows(client: httpx.AsyncClient, api: Api) -> None:
    """Keyset pages neither repeat nor skip rows when users register in between."""
    staff = await api.staff()
    marker = new_name("stable")
    people = [await api.person(last_name=marker) for _ in range(3)]
    first = await list_users(client, staff, last_name=marker, page_size=2)
    late = await api.person(last_name=marker)
    rest = await list_users(
        client, staff, last_name=marker, page_size=2, cursor=first["next_cursor"]
    )
    ids = [u["id"] for u in first["results"] + rest["results"]]
    assert ids == [p.id for p in [*people, late]]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"is_staff": "maybe"}, id="is_staff-not-bool"),
        pytest.param({"is_active": "2"}, id="is_active-not-bool"),
        pytest.param({"page": "0"}, id="page-zero"),
        pytest.param({"page": "-1"}, id="page-negative"),
        pytest.param({"page": "one"}, id="page-text"),
        pytest.param({"page": "99999999999999999999"}, id="page-beyond-int64"),
        pytest.param({"page": "92233720368547758"}, id="page-offset-beyond-int64"),
        pytest.param({"email": "a\u0000b"}, id="email-nul"),
        pytest.param({"last_name": "\u0000"}, id="last_name-nul"),
        pytest.param({"page_size": "0"}, id="page_size-zero"),
        pytest.param({"page_size": "101"}, id="page_size-too-big"),
        pytest.param({"page_size": "ten"}, id="page_size-text"),
        pytest.param({"cursor": "not-a-cursor"}, id="cursor-garbage"),
        pytest.param({"cursor": "eyJ4IjogMX0"}, id="cursor-forged"),
        pytest.param({"ordering": "password_hash"}, id="ordering-unknown"),
        pytest.param({"ordering": "-balance"}, id="ordering-other-resource"),
    ],
)
async def test_list_users_bad_query_is_400(
    client: httpx.AsyncClient, api: Api, params: dict[str, str]
) -> None:
    staff = await api.staff()
    response = await client.get(USERS, params=params, headers=staff.headers)
    assert_problem(response, 400, "validation_error")


async def test_list_users_page_and_cursor_together_is_400(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    marker = new_name("both")
    for _ in range(2):
        await api.person(last_name=marker)
    first = await list_users(client, staff, last_name=marker, page_size=1)
    response = await client.get(
        USERS,
        params={"last_name": marker, "page_size": 1, "page": 2, "cursor": first["next_cursor"]},
        headers=staff.headers,
    )
    assert_problem(response, 400, "validation_error")


async def test_cursor_from_another_ordering_is_400(client: httpx.AsyncClient, api: Api) -> None:
    staff = await api.staff()
    marker = new_name("order")
    for _ in range(2):
        await api.person(last_name=marker)
    first = await list_users(client, staff, last_name=marker, page_size=1, ordering="username")
    response = await client.get(
        USERS,
        params={"last_name": marker, "page_size": 1, "cursor": first["next_cursor"]},
        headers=staff.headers,
    )
    assert_problem(response, 400, "validation_error")


async def test_rejected_registrations_do_not_change_the_user_count(
    client: httpx.AsyncClient, api: Api
) -> None:
    staff = await api.staff()
    before = (await list_users(client, staff, page_size=1))["count"]
    existing = await api.person()
    after_one = (await list_users(client, staff, page_size=1))["count"]
    assert after_one == before + 1
    username = new_name("rej")
    attempts: list[dict[str, Any]] = [
        {"content": b'{"email": "x@example.com", "username":'},
        {"json": {"email": f"{username}@example.com", "username": username}},
        {
            "json": {
                "email": f"{username}@example.com",
                "username": username,
                "password": PASSWORD,
                "phone_number": "+14155550199",
                "role": "admin",
            }
        },
        {
            "json": {
                "email": existing.email.upper(),
                "username": username,
                "password": PASSWORD,
                "phone_number": "+14155550198",
            }
        },
        {
            "json": {
                "email": f"{username}@example.com",
                "username": username,
                "password": "1234567890",
                "phone_number": "+14155550197",
            }
        },
        {"content": b'{"email": "' + b"a" * (65 * 1024) + b'"}'},
    ]
    for attempt in attempts:
        response = await client.post(
            "/api/v1/auth/register", headers={"Content-Type": "application/json"}, **attempt
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"]
        assert body["request_id"] == response.headers["x-request-id"]
    assert (await list_users(client, staff, page_size=1))["count"] == after_one
    assert (await list_users(client, staff, email=username))["count"] == 0
