"""Metrics (and trace spans) name a request by its full route template: bounded, and telling
one endpoint from another."""

from __future__ import annotations

import uuid

import httpx

from support import Api
from support import request_count as count


async def test_requests_are_counted_by_their_full_route_template(
    client: httpx.AsyncClient, api: Api
) -> None:
    person = await api.person()
    before = (await client.get("/metrics")).text
    listed = await client.get("/api/v1/wallet/transactions", headers=person.headers)
    assert listed.status_code == 200
    for _ in range(2):  # two different ids, one label
        missing = await client.get(f"/api/v1/wallet/{uuid.uuid4()}", headers=person.headers)
        assert missing.status_code == 404
    after = (await client.get("/metrics")).text
    route = "/api/v1/wallet/transactions"
    assert count(after, "GET", route, "200") == count(before, "GET", route, "200") + 1
    one = "/api/v1/wallet/{wallet_id}"
    assert count(after, "GET", one, "404") == count(before, "GET", one, "404") + 2
    assert 'route="/"' not in after
