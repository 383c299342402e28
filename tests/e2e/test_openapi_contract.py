"""The OpenAPI document says what the service does (issue 10), pinned case by case.

tests/fuzz/test_schemathesis.py holds the running service to the whole document; these are the
quick, readable regressions for what that fuzzing found.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import Api, idem

PUBLIC = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/token"),
    ("post", "/api/v1/auth/token/refresh"),
    ("post", "/api/v1/wallet/webhook/paysend"),
    ("post", "/api/v1/wallet/webhook/cashout"),
    ("get", "/api/v1/health/live"),
    ("get", "/api/v1/health/ready"),
    ("get", "/api/v1/metrics"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("get", "/metrics"),
}
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/schema/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_only_the_protected_operations_require_a_token(document: dict[str, Any]) -> None:
    assert "security" not in document  # nothing is secured by default
    for method, path, operation in operations(document):
        if (method, path) in PUBLIC:
            assert "security" not in operation, (method, path)
        else:
            assert operation["security"] == [{"BearerToken": []}], (method, path)


def test_request_bodies_that_refuse_unknown_fields_say_so(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in (
        "RegisterRequest",
        "TokenRequest",
        "RefreshRequest",
        "ProfileUpdate",
        "OpenWalletRequest",
        "WalletUpdate",
        "TransferCreate",
        "WithdrawalCreate",
        "DepositCreate",
        "TransactionAction",
    ):
        assert schemas[name]["additionalProperties"] is False, name
    # The providers may add fields to their webhooks; those are tolerated and documented so.
    assert "additionalProperties" not in schemas["PaysendNotification"]
    assert "additionalProperties" not in schemas["CashoutVerification"]


def test_every_documented_error_is_a_problem_document(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or (path.endswith("/ready") and status == "503"):
                continue
            assert list(response["content"]) == ["application/problem+json"], (method, path)
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Problem"}, (method, path, status)


def test_every_operation_that_takes_a_body_documents_its_refusals(
    document: dict[str, Any],
) -> None:
    """Too large (413), not JSON (415), too slow to arrive (408): all problem documents."""
    with_body = [(m, p, o) for m, p, o in operations(document) if "requestBody" in o]
    assert len(with_body) >= 11
    for method, path, operation in with_body:
        for status in ("408", "413", "415"):
            response = operation["responses"].get(status)
            assert response is not None, (method, path, status)
            assert list(response["content"]) == ["application/problem+json"]
        assert "unsupported_media_type" in operation["responses"]["415"]["description"]
    for method, path, operation in operations(document):
        if "requestBody" not in operation:
            assert "415" not in operation["responses"], (method, path)


def test_the_metrics_are_documented_as_the_prometheus_text_format(
    document: dict[str, Any],
) -> None:
    for path in ("/metrics", "/api/v1/metrics"):
        content = document["paths"][path]["get"]["responses"]["200"]["content"]
        assert list(content) == ["text/plain; version=0.0.4; charset=utf-8"], path


def test_every_response_body_is_described(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if status == "204":
                assert "content" not in response, (method, path)
                continue
            for media_type, content in response["content"].items():
                if media_type.startswith("text/plain"):
                    continue
                assert content["schema"] != {"type": "string"}, (method, path, status)


def test_created_resources_link_to_what_can_be_done_with_them(document: dict[str, Any]) -> None:
    paths = document["paths"]
    created = paths["/api/v1/wallet/transactions"]["post"]["responses"]["201"]["links"]
    assert created["GetTransaction"]["operationId"] == "getTransaction"
    assert created["GetTransaction"]["parameters"] == {"transaction_id": "$response.body#/id"}
    assert created["ActOnTransaction"]["operationId"] == "actOnTransaction"
    opened = paths["/api/v1/wallet"]["post"]["responses"]["201"]["links"]
    assert opened["GetWallet"]["parameters"] == {"wallet_id": "$response.body#/id"}
    registered = paths["/api/v1/auth/register"]["post"]["responses"]["201"]["links"]
    assert registered["LogIn"]["operationId"] == "logIn"


async def test_options_lists_every_method_of_the_path(api: Api) -> None:
    person = await api.person()
    for path, allowed in (
        ("/api/v1/wallet", "GET, OPTIONS, POST"),
        ("/api/v1/wallet/transactions", "GET, OPTIONS, POST"),
        ("/api/v1/users/me", "GET, OPTIONS, PATCH"),
        (f"/api/v1/wallet/{person.wallet_id}", "GET, OPTIONS, PATCH"),
        ("/api/v1/auth/token", "OPTIONS, POST"),
    ):
        response = await api.client.options(path)
        assert response.status_code == 204, path
        assert response.headers["allow"] == allowed, path
        refused = await api.client.put(path, headers=person.headers)
        assert refused.status_code == 405, path
        assert set(refused.headers["allow"].split(", ")) == set(allowed.split(", ")), path
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_unknown_docs_paths_are_problem_documents(client: httpx.AsyncClient) -> None:
    for path in ("/api/schema/nope", "/api/schema/nope.json"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/problem+json"), path
        assert response.json()["code"] == "not_found"


async def test_a_boolean_must_be_a_json_boolean(api: Api) -> None:
    person = await api.person()
    staff = await api.staff()
    for value in (0, 1, "true", "false"):
        response = await api.client.patch(
            f"/api/v1/wallet/{person.wallet_id}", json={"is_active": value}, headers=staff.headers
        )
        assert response.status_code == 400, (value, response.text)
        assert response.json()["errors"][0]["field"] == "is_active"
    assert (await api.wallet(person))["is_active"] is True


async def test_text_with_a_nul_character_is_refused_at_the_door(api: Api) -> None:
    person = await api.person()
    await api.fund(person, "5.00")
    response = await api.client.post(
        "/api/v1/wallet/transactions",
        json={"type": "withdrawal", "amount": "1.00", "description": "a\u0000b"},
        headers={**person.headers, **idem()},
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "description"
    assert (await api.wallet(person))["held_balance"] == "0.00"
