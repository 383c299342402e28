"""Transaction metadata: accepted on every creating POST within its limits, shown on the
transaction, and filtered by ``metadata[key]=value`` (all given pairs must match)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from support import Api, assert_problem, idem

URL = "/api/v1/wallet/transactions"


async def test_metadata_on_transfer_withdrawal_and_deposit(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob = await api.person(), await api.person()
    staff = await api.staff()
    deposit = await client.post(
        URL,
        json={
            "type": "deposit",
            "amount": "50.00",
            "wallet_id": alice.wallet_id,
            "funding_source": "manual",
            "description": "seed",
            "metadata": {"ticket": "T-1"},
        },
        headers={**staff.headers, **idem()},
    )
    assert deposit.status_code == 201, deposit.text
    assert deposit.json()["metadata"] == {"ticket": "T-1"}
    sent = await api.send(alice, bob, "5.00", metadata={"order_id": "A-1042", "shop.v2": "x"})
    assert sent.status_code == 201, sent.text
    cashout = await client.post(
        URL,
        json={"type": "withdrawal", "amount": "1.00", "metadata": {"atm": "beirut-7"}},
        headers={**alice.headers, **idem()},
    )
    assert cashout.status_code == 201, cashout.text
    plain = await api.send(alice, bob, "1.00")
    assert plain.json()["metadata"] == {}
    read = await client.get(f"{URL}/{sent.json()['id']}", headers=bob.headers)
    assert read.json()["metadata"] == {"order_id": "A-1042", "shop.v2": "x"}


async def _ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    response = await client.get(URL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    return {t["id"] for t in response.json()["results"]}


async def test_metadata_filter_matches_every_pair(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "20.00")
    both = (await api.send(alice, bob, "1.00", metadata={"order": "7", "shop": "a"})).json()
    one = (await api.send(alice, bob, "1.00", metadata={"order": "7"})).json()
    await api.send(alice, bob, "1.00", metadata={"order": "8", "shop": "a"})
    assert await _ids(client, alice.headers, **{"metadata[order]": "7"}) == {both["id"], one["id"]}
    assert await _ids(client, alice.headers, **{"metadata[order]": "7", "metadata[shop]": "a"}) == {
        both["id"]
    }
    assert await _ids(client, bob.headers, **{"metadata[order]": "9"}) == set()
    # a stranger's filter never reaches someone else's transactions
    stranger = await api.person()
    assert await _ids(client, stranger.headers, **{"metadata[order]": "7"}) == set()
    staff = await api.staff()
    assert both["id"] in await _ids(client, staff.headers, **{"metadata[shop]": "a"})


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(21)},
        {"": "empty key"},
        {"a" * 41: "long key"},
        {"spaced key": "v"},
        {"k": "v" * 501},
        {"k": 5},
        {"k": None},
        ["not", "an", "object"],
    ],
)
async def test_metadata_outside_the_limits_is_400(
    api: Api, client: httpx.AsyncClient, metadata: Any
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "5.00")
    response = await api.send(alice, bob, "1.00", metadata=metadata)
    assert_problem(response, 400, "validation_error")
    assert (await api.wallet(alice))["available_balance"] == "5.00"


async def test_metadata_at_the_limits_is_accepted(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "5.00")
    metadata = {f"{'k' * 38}{i:02d}": "v" * 500 for i in range(20)}
    response = await api.send(alice, bob, "1.00", metadata=metadata)
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == metadata


async def test_bad_metadata_filter_is_400(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.person()
    for name in ("metadata[]", "metadata[bad key]", "metadata[" + "a" * 41 + "]"):
        response = await client.get(URL, params={name: "x"}, headers=alice.headers)
        assert_problem(response, 400, "validation_error")
