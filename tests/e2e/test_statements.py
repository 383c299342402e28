"""Statements over HTTP: entries with running balances, the balance at an instant, the JSON
summary and the CSV export (parsed back with the csv module), and who may read them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from support import Api, Person, assert_problem

BASE = "/api/v1/wallet"


async def _history(api: Api) -> tuple[Person, Person]:
    """alice: +100.00, sends 30.00 to bob (accepted), sends 5.00 (rejected), +0.50."""
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "100.00")
    sent = (await api.send(alice, bob, "30.00", description='rent, "June"\nflat 2')).json()
    assert (await api.act(bob, sent["id"], "accept")).status_code == 200
    rejected = (await api.send(alice, bob, "5.00")).json()
    assert (await api.act(bob, rejected["id"], "reject")).status_code == 200
    await api.fund(alice, "0.50")
    return alice, bob


async def _get(client: httpx.AsyncClient, who: Person, path: str, **params: Any) -> Any:
    response = await client.get(f"{BASE}/{path}", params=params, headers=who.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_entries_show_posted_lines_with_running_balances(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await _history(api)
    page = await _get(client, alice, f"{alice.wallet_id}/entries", ordering="posted_at")
    lines = page["results"]
    assert page["count"] == 3
    assert [(e["type"], e["amount"], e["balance_after"]) for e in lines] == [
        ("deposit", "100.00", "100.00"),
        ("transfer", "-30.00", "70.00"),
        ("deposit", "0.50", "70.50"),
    ]
    assert lines[1]["description"] == 'rent, "June"\nflat 2'
    assert lines[1]["reference"].startswith("TRF-")
    newest_first = await _get(client, alice, f"{alice.wallet_id}/entries")
    assert [e["id"] for e in newest_first["results"]] == [e["id"] for e in reversed(lines)]
    theirs = await _get(client, bob, f"{bob.wallet_id}/entries")
    assert [(e["amount"], e["balance_after"]) for e in theirs["results"]] == [("30.00", "30.00")]
    # keyset pages walk every line once
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"page_size": 1}
        if cursor is not None:
            params["cursor"] = cursor
        chunk = await _get(client, alice, f"{alice.wallet_id}/entries", **params)
        seen += [e["id"] for e in chunk["results"]]
        cursor = chunk["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(e["id"] for e in lines)
    await api.audit_clean()


async def test_balance_at_every_line_and_before_and_now(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, _ = await _history(api)
    lines = (await _get(client, alice, f"{alice.wallet_id}/entries", page_size=100))["results"]
    for line in lines:
        found = await _get(client, alice, f"{alice.wallet_id}/balance", at=line["posted_at"])
        assert found["balance"] == line["balance_after"]
    before = await _get(client, alice, f"{alice.wallet_id}/balance", at="2001-01-01T00:00:00Z")
    assert before["balance"] == "0.00"
    now = await _get(client, alice, f"{alice.wallet_id}/balance")
    assert now["balance"] == (await api.wallet(alice))["balance"] == "70.50"
    assert now["currency"] == "USD" and now["wallet_id"] == alice.wallet_id
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    response = await client.get(
        f"{BASE}/{alice.wallet_id}/balance", params={"at": future}, headers=alice.headers
    )
    assert_problem(response, 400, "validation_error")


async def test_statement_summary_and_csv_agree(api: Api, client: httpx.AsyncClient) -> None:
    alice, _ = await _history(api)
    lines = (await _get(client, alice, f"{alice.wallet_id}/entries", ordering="posted_at"))[
        "results"
    ]
    whole = await _get(client, alice, f"{alice.wallet_id}/statement")
    assert (whole["opening_balance"], whole["closing_balance"]) == ("0.00", "70.50")
    assert (whole["total_credits"], whole["total_debits"], whole["entry_count"]) == (
        "100.50",
        "30.00",
        3,
    )
    # [second line, third line): opening is the balance before it, the third is excluded
    part = await _get(
        client,
        alice,
        f"{alice.wallet_id}/statement",
        **{"from": lines[1]["posted_at"], "to": lines[2]["posted_at"]},
    )
    assert (part["opening_balance"], part["closing_balance"], part["entry_count"]) == (
        "100.00",
        "70.00",
        1,
    )
    response = await client.get(
        f"{BASE}/{alice.wallet_id}/statement", headers={**alice.headers, "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert b"\r\n" in response.content
    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    assert rows[0] == [
        "posted_at",
        "transaction_id",
        "reference",
        "type",
        "description",
        "amount",
        "balance_after",
        "currency",
    ]
    assert [(r[3], r[5], r[6], r[7]) for r in rows[1:]] == [
        ("deposit", "100.00", "100.00", "USD"),
        ("transfer", "-30.00", "70.00", "USD"),
        ("deposit", "0.50", "70.50", "USD"),
    ]
    assert rows[2][4] == 'rent, "June"\nflat 2'
    assert [r[1] for r in rows[1:]] == [line["transaction_id"] for line in lines]
    same = await client.get(
        f"{BASE}/{alice.wallet_id}/statement", params={"format": "csv"}, headers=alice.headers
    )
    assert same.content == response.content


async def test_bad_statement_queries_are_400(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.person()
    for path, params in (
        ("statement", {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
        ("statement", {"format": "xml"}),
        ("statement", {"from": "yesterday"}),
        ("balance", {"at": "not a time"}),
        ("entries", {"ordering": "amount"}),
        ("entries", {"cursor": "garbage"}),
        ("entries", {"posted_after": "nope"}),
    ):
        response = await client.get(
            f"{BASE}/{alice.wallet_id}/{path}", params=params, headers=alice.headers
        )
        assert_problem(response, 400, "validation_error")


async def test_only_the_owner_and_staff_read_a_statement(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await _history(api)
    staff = await api.staff()
    for path in ("entries", "balance", "statement", "statement?format=csv"):
        other = await client.get(f"{BASE}/{alice.wallet_id}/{path}", headers=bob.headers)
        assert_problem(other, 404, "not_found")
        anonymous = await client.get(f"{BASE}/{alice.wallet_id}/{path}")
        assert anonymous.status_code == 401
        seen = await client.get(f"{BASE}/{alice.wallet_id}/{path}", headers=staff.headers)
        assert seen.status_code == 200
