"""``/events``: the caller's events (staff: all), filters, both paginations, one event, 404 for
an event of someone else; event data equal to the transaction as the API showed it then."""

from __future__ import annotations

import httpx

from support import Api, assert_problem, idem

EVENTS = "/api/v1/events"


async def test_both_parties_see_the_same_events_and_others_see_none(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice, bob, carol = await api.person(), await api.person(), await api.person()
    await api.fund(alice, "5.00")
    sent = await api.send(alice, bob, "2.00")
    created_body = sent.json()
    accepted = await client.post(
        f"/api/v1/wallet/transactions/{created_body['id']}/action",
        json={"action": "accept"},
        headers={**bob.headers, **idem()},
    )
    assert accepted.status_code == 200, accepted.text

    query = {"transaction": created_body["id"]}
    seen = {}
    for person in (alice, bob):
        response = await client.get(EVENTS, params=query, headers=person.headers)
        assert response.status_code == 200, response.text
        seen[person.username] = response.json()["results"]
    assert seen[alice.username] == seen[bob.username]
    completed, created = seen[alice.username]
    assert [completed["type"], created["type"]] == ["transaction.completed", "transaction.created"]
    assert created["data"]["transaction"] == created_body
    assert completed["data"]["transaction"] == accepted.json()
    assert set(created) == {"id", "type", "created_at", "data"}

    one = await client.get(f"{EVENTS}/{created['id']}", headers=bob.headers)
    assert one.status_code == 200 and one.json() == created
    assert_problem(await client.get(f"{EVENTS}/{created['id']}", headers=carol.headers), 404)
    mine = await client.get(EVENTS, headers=carol.headers)
    assert mine.json()["results"] == [] and mine.json()["count"] == 0
    staff = await api.staff()
    as_staff = await client.get(EVENTS, params=query, headers=staff.headers)
    assert as_staff.json()["results"] == seen[alice.username]


async def test_filters_and_paginations(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.person()
    for _ in range(3):
        await api.fund(alice, "1.00")
    all_events = (await client.get(EVENTS, headers=alice.headers)).json()
    assert all_events["count"] == 6
    ids = [e["id"] for e in all_events["results"]]
    assert ids == sorted(ids, reverse=True)

    created = await client.get(
        EVENTS, params={"type": "transaction.created"}, headers=alice.headers
    )
    assert {e["type"] for e in created.json()["results"]} == {"transaction.created"}
    both = await client.get(
        EVENTS,
        params={"type": "transaction.created,transaction.completed", "page_size": 4},
        headers=alice.headers,
    )
    assert both.json()["count"] == 6 and both.json()["next"] is not None
    page2 = await client.get(both.json()["next"], headers=alice.headers)
    assert [e["id"] for e in page2.json()["results"]] == ids[4:]

    walked: list[str] = []
    params: dict[str, str | int] = {"page_size": 4, "cursor": ""}
    first = await client.get(EVENTS, params={"page_size": 4}, headers=alice.headers)
    page = first.json()
    walked += [e["id"] for e in page["results"]]
    while page["next_cursor"]:
        params["cursor"] = page["next_cursor"]
        page = (await client.get(EVENTS, params=params, headers=alice.headers)).json()
        assert page["count"] is None
        walked += [e["id"] for e in page["results"]]
    assert walked == ids

    newest = all_events["results"][0]["created_at"]
    after = await client.get(EVENTS, params={"created_after": newest}, headers=alice.headers)
    assert [e["id"] for e in after.json()["results"]] == ids[:2]  # a deposit: two at once
    before = await client.get(EVENTS, params={"created_before": newest}, headers=alice.headers)
    assert before.json()["count"] == 6


async def test_bad_filters_are_400(api: Api, client: httpx.AsyncClient) -> None:
    alice = await api.person()
    for params in (
        {"type": "transaction.nope"},
        {"type": ""},
        {"transaction": "not-a-uuid"},
        {"created_after": "yesterday"},
        {"cursor": "garbage"},
        {"page_size": "0"},
    ):
        response = await client.get(EVENTS, params=params, headers=alice.headers)
        assert_problem(response, 400)
    assert_problem(await client.get(EVENTS), 401)
    assert_problem(await client.get(f"{EVENTS}/stream"), 401)


async def test_freezing_a_wallet_is_an_event_for_its_owner(
    api: Api, client: httpx.AsyncClient
) -> None:
    alice = await api.person()
    staff = await api.staff()
    frozen = await client.patch(
        f"/api/v1/wallet/{alice.wallet_id}", json={"is_active": False}, headers=staff.headers
    )
    assert frozen.status_code == 200, frozen.text
    response = await client.get(EVENTS, params={"type": "wallet.updated"}, headers=alice.headers)
    (event,) = response.json()["results"]
    assert event["data"]["wallet"] == frozen.json()


async def test_the_openapi_document_describes_events_and_webhook_payloads(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/api/schema/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path in (
        "/api/v1/events",
        "/api/v1/events/{event_id}",
        "/api/v1/events/stream",
        "/api/v1/webhook-endpoints",
        "/api/v1/webhook-endpoints/{endpoint_id}",
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        "/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
        "/api/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/retry",
    ):
        assert path in paths, path
    stream = paths["/api/v1/events/stream"]["get"]["responses"]["200"]["content"]
    assert list(stream) == ["text/event-stream"]
    webhooks = document["webhooks"]
    assert set(webhooks) == {
        "transaction.created",
        "transaction.completed",
        "transaction.rejected",
        "transaction.cancelled",
        "transaction.expired",
        "transaction.reversed",
        "wallet.updated",
    }
    body = webhooks["transaction.created"]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[1]
    assert ref in document["components"]["schemas"]
    headers = {p["name"] for p in webhooks["wallet.updated"]["post"]["parameters"]}
    assert headers == {"X-Event-Id", "X-Event-Type", "X-Signature"}
