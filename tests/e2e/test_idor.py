"""Insecure direct object references: every route that takes an id, given someone else's id,
answers exactly like an id that does not exist (404, or an empty list for a filter) and changes
nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from support import Api, Person, idem

WALLET = "/api/v1/wallet"
TX = "/api/v1/wallet/transactions"


@dataclass
class Victim:
    alice: Person
    bob: Person
    mallory: Person
    alice_eur: str
    transaction_id: str
    withdrawal_id: str
    deposit_id: str


@pytest.fixture
async def world(api: Api) -> Victim:
    alice, bob, mallory = await api.person(), await api.person(), await api.person()
    alice_eur = await api.open_wallet(alice, "EUR")
    deposit = await api.fund(alice, "100.00")
    await api.fund(alice, "10.00", alice_eur)
    await api.fund(mallory, "100.00")
    sent = await api.send(alice, bob, "25.00")
    assert sent.status_code == 201
    cash = await api.client.post(
        TX, json={"type": "withdrawal", "amount": "5.00"}, headers={**alice.headers, **idem()}
    )
    assert cash.status_code == 201
    return Victim(
        alice, bob, mallory, alice_eur, sent.json()["id"], cash.json()["id"], deposit["id"]
    )


async def snapshot(api: Api, v: Victim) -> Any:
    staff = await api.staff()
    wallets = []
    for who, wid in (
        (v.alice, v.alice.wallet_id),
        (v.alice, v.alice_eur),
        (v.bob, v.bob.wallet_id),
        (v.mallory, v.mallory.wallet_id),
    ):
        w = await api.wallet(who, wid)
        wallets.append({k: w[k] for k in w if k != "updated_at"} | {"updated": w["updated_at"]})
    txs = []
    for tx_id in (v.transaction_id, v.withdrawal_id, v.deposit_id):
        response = await api.client.get(f"{TX}/{tx_id}", headers=staff.headers)
        txs.append(response.json())
    return wallets, txs


def same_404(response: httpx.Response, reference: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert reference.status_code == 404, reference.text
    assert response.headers["content-type"].startswith("application/problem+json")
    mine, theirs = response.json(), reference.json()
    assert mine["code"] == "not_found"
    mine.pop("request_id"), theirs.pop("request_id")
    assert mine == theirs


async def test_reading_someone_elses_wallet(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m = world.mallory
    before = await snapshot(api, world)
    for wid in (world.alice.wallet_id, world.alice_eur, world.bob.wallet_id):
        theirs = await client.get(f"{WALLET}/{wid}", headers=m.headers)
        nothing = await client.get(f"{WALLET}/{uuid.uuid4()}", headers=m.headers)
        same_404(theirs, nothing)
    listed = await client.get(WALLET, params={"user": world.alice.username}, headers=m.headers)
    assert listed.json()["count"] == 0 and listed.json()["results"] == []
    listed = await client.get(WALLET, params={"user": world.alice.id}, headers=m.headers)
    assert listed.json()["results"] == []
    mine = (await client.get(WALLET, params={"page_size": 100}, headers=m.headers)).json()
    assert [w["id"] for w in mine["results"]] == [m.wallet_id]
    assert await snapshot(api, world) == before


async def test_patching_someone_elses_wallet(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m = world.mallory
    before = await snapshot(api, world)
    answers = []
    for wid in (world.alice.wallet_id, str(uuid.uuid4()), m.wallet_id):
        response = await client.patch(
            f"{WALLET}/{wid}", json={"is_active": False}, headers=m.headers
        )
        body = response.json()
        body.pop("request_id")
        answers.append((response.status_code, body))
    # Staff-only: the same 403 whatever the id, so existence does not leak.
    assert answers[0] == answers[1] == answers[2]
    assert answers[0][0] == 403 and answers[0][1]["code"] == "forbidden"
    assert await snapshot(api, world) == before


async def test_reading_someone_elses_transactions(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m, bob = world.mallory, world.bob
    before = await snapshot(api, world)
    for tx_id in (world.transaction_id, world.withdrawal_id, world.deposit_id):
        theirs = await client.get(f"{TX}/{tx_id}", headers=m.headers)
        nothing = await client.get(f"{TX}/{uuid.uuid4()}", headers=m.headers)
        same_404(theirs, nothing)
    # Bob is a party to the transfer only.
    assert (
        await client.get(f"{TX}/{world.transaction_id}", headers=bob.headers)
    ).status_code == 200
    for tx_id in (world.withdrawal_id, world.deposit_id):
        assert (await client.get(f"{TX}/{tx_id}", headers=bob.headers)).status_code == 404
    assert await snapshot(api, world) == before


async def test_acting_on_someone_elses_transactions(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m, bob = world.mallory, world.bob
    before = await snapshot(api, world)
    for tx_id in (world.transaction_id, world.withdrawal_id, world.deposit_id):
        for action in ("accept", "reject", "cancel"):
            theirs = await api.act(m, tx_id, action)
            nothing = await api.act(m, str(uuid.uuid4()), action)
            same_404(theirs, nothing)
    # The recipient of the transfer may not cancel it, nor touch Alice's cash-out.
    assert (await api.act(bob, world.transaction_id, "cancel")).status_code == 404
    for action in ("accept", "reject", "cancel"):
        assert (await api.act(bob, world.withdrawal_id, action)).status_code == 404
    assert await snapshot(api, world) == before


async def test_spending_from_someone_elses_wallet(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m = world.mallory
    before = await snapshot(api, world)
    for wid in (world.alice.wallet_id, world.alice_eur):
        stolen = await client.post(
            TX,
            json={"type": "transfer", "amount": "1.00", "recipient": m.username, "wallet_id": wid},
            headers={**m.headers, **idem()},
        )
        nothing = await client.post(
            TX,
            json={
                "type": "transfer",
                "amount": "1.00",
                "recipient": m.username,
                "wallet_id": str(uuid.uuid4()),
            },
            headers={**m.headers, **idem()},
        )
        same_404(stolen, nothing)
        cash = await client.post(
            TX,
            json={"type": "withdrawal", "amount": "1.00", "wallet_id": wid},
            headers={**m.headers, **idem()},
        )
        cash_nothing = await client.post(
            TX,
            json={"type": "withdrawal", "amount": "1.00", "wallet_id": str(uuid.uuid4())},
            headers={**m.headers, **idem()},
        )
        same_404(cash, cash_nothing)
    # A user cannot credit anyone's wallet: deposits are staff-only.
    deposit = await client.post(
        TX,
        json={"type": "deposit", "amount": "1.00", "wallet_id": m.wallet_id},
        headers={**m.headers, **idem()},
    )
    assert deposit.status_code == 403
    assert await snapshot(api, world) == before
    mine = (await client.get(TX, headers=m.headers)).json()
    assert mine["count"] == 1  # only Mallory's own funding deposit


async def test_filtering_by_someone_elses_ids(
    client: httpx.AsyncClient, api: Api, world: Victim
) -> None:
    m = world.mallory
    for params in (
        {"wallet": world.alice.wallet_id},
        {"wallet": world.alice_eur},
        {"wallet": world.bob.wallet_id},
        {"involving_user": world.alice.username},
        {"involving_user": world.alice.id},
        {"sender": world.alice.username},
        {"recipient": world.bob.id},
        {"reference": ""},
    ):
        response = await client.get(TX, params=params, headers=m.headers)
        assert response.status_code == 200, response.text
        ids = {t["id"] for t in response.json()["results"]}
        assert not ids & {world.transaction_id, world.withdrawal_id, world.deposit_id}, params
        if params.get("reference") is None:
            assert response.json()["count"] == 0, params
    # The owner does see them with the same filter.
    own = await client.get(
        TX, params={"wallet": world.alice.wallet_id}, headers=world.alice.headers
    )
    assert {t["id"] for t in own.json()["results"]} == {
        world.transaction_id,
        world.withdrawal_id,
        world.deposit_id,
    }


async def test_staff_sees_everything(client: httpx.AsyncClient, api: Api, world: Victim) -> None:
    staff = await api.staff()
    for tx_id in (world.transaction_id, world.withdrawal_id, world.deposit_id):
        assert (await client.get(f"{TX}/{tx_id}", headers=staff.headers)).status_code == 200
    assert (
        await client.get(f"{WALLET}/{world.alice_eur}", headers=staff.headers)
    ).status_code == 200
    listed = await client.get(TX, params={"wallet": world.alice.wallet_id}, headers=staff.headers)
    assert listed.json()["count"] == 3
