"""The OpenAPI document says what the service does, pinned case by case.

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
    content = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain; version=0.0.4; charset=utf-8"]


async def test_health_and_metrics_are_documented_once_at_the_root(
    document: dict[str, Any], client: httpx.AsyncClient
) -> None:
    paths = set(document["paths"])
    assert {"/health/live", "/health/ready", "/metrics"} <= paths
    assert not {p for p in paths if p.startswith("/api/v1/") and ("health" in p or "metrics" in p)}
    # Still answered under the base path, for clients that used it.
    assert (await client.get("/api/v1/health/live")).status_code == 200


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


# Precision: what a generated client and a fuzzer need ---------------------------------------------


def _resolve(document: dict[str, Any], ref: str) -> dict[str, Any]:
    schema: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return schema


def test_a_created_transaction_is_a_union_discriminated_by_type(document: dict[str, Any]) -> None:
    operation = document["paths"]["/api/v1/wallet/transactions"]["post"]
    for schema in (
        operation["responses"]["201"]["content"]["application/json"]["schema"],
        operation["requestBody"]["content"]["application/json"]["schema"],
    ):
        mapping = schema["discriminator"]["mapping"]
        assert schema["discriminator"]["propertyName"] == "type"
        assert set(mapping) == {"transfer", "withdrawal", "deposit"}
        assert sorted(mapping.values()) == sorted(ref["$ref"] for ref in schema["oneOf"])
        for tag, ref in mapping.items():
            assert _resolve(document, ref)["properties"]["type"]["const"] == tag
    created = operation["responses"]["201"]["content"]["application/json"]["schema"]
    withdrawal = _resolve(document, created["discriminator"]["mapping"]["withdrawal"])
    transaction = _resolve(document, created["discriminator"]["mapping"]["transfer"])
    assert "withdrawal_code" in withdrawal["required"]
    assert "withdrawal_code" not in transaction["properties"]


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if "$ref" in node else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _inline_enums(node: Any, path: str = "") -> list[tuple[str, tuple[Any, ...]]]:
    if isinstance(node, dict):
        found = [(path, tuple(node["enum"]))] if "enum" in node else []
        for key, value in node.items():
            found += _inline_enums(value, f"{path}/{key}")
        return found
    if isinstance(node, list):
        return [e for i, v in enumerate(node) for e in _inline_enums(v, f"{path}/{i}")]
    return []


def test_one_enum_per_concept(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert schemas["TransactionStatus"]["enum"] == [
        *("pending", "completed", "rejected", "cancelled", "expired", "failed")
    ]
    assert schemas["Currency"]["enum"] == ["USD", "EUR", "GBP", "LBP"]
    # Statuses, types, funding sources and currencies are named once, never spelled inline.
    for concept in ("TransactionStatus", "TransactionType", "FundingSource", "Currency"):
        values = tuple(schemas[concept]["enum"])
        copies = [p for p, e in _inline_enums(document) if set(e) == set(values)]
        assert copies == [f"/components/schemas/{concept}"], copies
    assert "#/components/schemas/TransactionStatus" in _refs(document["paths"])


def _parameter(document: dict[str, Any], path: str, name: str) -> dict[str, Any]:
    parameters = document["paths"][path]["get"]["parameters"]
    schema: dict[str, Any] = next(p for p in parameters if p["name"] == name)["schema"]
    return schema


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/wallet", "/api/v1/wallet/transactions"])
def test_the_lists_state_their_bounds(document: dict[str, Any], path: str) -> None:
    assert _parameter(document, path, "page")["minimum"] == 1
    assert (
        _parameter(document, path, "page_size")["minimum"],
        _parameter(document, path, "page_size")["maximum"],
    ) == (1, 100)
    assert _parameter(document, path, "cursor")["minLength"] == 1
    assert _parameter(document, path, "ordering")["minLength"] == 1
    assert "created_at" in _parameter(document, path, "ordering")["pattern"]


def test_request_bodies_state_what_the_server_checks(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    register = schemas["RegisterRequest"]["properties"]
    assert register["password"]["minLength"] == 10
    assert register["phone_number"]["maxLength"] == 32
    assert "pattern" in register["phone_number"]
    assert register["currency"]["oneOf"][0] == {"$ref": "#/components/schemas/Currency"}
    token = schemas["TokenRequest"]
    assert [(v["title"], v["required"]) for v in token["oneOf"]] == [
        ("EmailLogin", ["email", "password"]),
        ("UsernameLogin", ["password", "username"]),
    ]
    assert schemas["ProfileUpdate"]["dependentRequired"] == {"password": ["current_password"]}


async def test_log_in_takes_exactly_one_of_email_and_username(api: Api) -> None:
    person = await api.person()
    both = {"email": person.email, "username": person.username, "password": "x" * 12}
    response = await api.client.post("/api/v1/auth/token", json=both)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/wallet", "/api/v1/wallet/transactions"])
@pytest.mark.parametrize(
    "query", ["ordering=", "page=0", "page_size=0", "page_size=101", "cursor="]
)
async def test_a_value_outside_the_documented_bounds_is_a_400(
    api: Api, path: str, query: str
) -> None:
    """What the document refuses, the server refuses (an empty ordering no longer means the
    default; schemathesis found the server accepting it)."""
    staff = await api.staff()
    response = await api.client.get(f"{path}?{query}", headers=staff.headers)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
