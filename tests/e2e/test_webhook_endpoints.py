"""``/webhook-endpoints`` over HTTP: the secret shown once, CRUD for the owner only, 10 per user,
and the SSRF guard at registration (loopback, private, link-local, metadata, IPv6 forms), which
resolves nothing beyond this machine's hosts file."""

from __future__ import annotations

import uuid

import httpx
import pytest

from support import Api, assert_problem

ENDPOINTS = "/api/v1/webhook-endpoints"


async def test_create_read_update_rotate_delete(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.person(), await api.person()
    created = await client.post(
        ENDPOINTS,
        json={"url": "https://93.184.216.34/hook", "event_types": ["transaction.completed"]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) >= 38
    assert body["is_active"] is True and body["description"] == ""
    endpoint = f"{ENDPOINTS}/{body['id']}"

    read = (await client.get(endpoint, headers=alice.headers)).json()
    assert "secret" not in read and read["url"] == "https://93.184.216.34/hook"
    listed = (await client.get(ENDPOINTS, headers=alice.headers)).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]
    assert_problem(await client.get(endpoint, headers=bob.headers), 404)
    assert (await client.get(ENDPOINTS, headers=bob.headers)).json()["results"] == []

    changed = await client.patch(
        endpoint, json={"event_types": ["*"], "is_active": False}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["event_types"] == ["*"] and changed.json()["is_active"] is False
    assert_problem(await client.patch(endpoint, json={"secret": "x"}, headers=alice.headers), 400)

    rotated = await client.post(f"{endpoint}/rotate-secret", headers=alice.headers)
    assert rotated.status_code == 200 and rotated.json()["secret"] != body["secret"]
    log = await client.get(f"{endpoint}/deliveries", headers=alice.headers)
    assert log.status_code == 200 and log.json()["results"] == []
    assert_problem(
        await client.get(f"{endpoint}/deliveries", params={"status": "x"}, headers=alice.headers),
        400,
    )
    assert_problem(await client.delete(endpoint, headers=bob.headers), 404)
    assert (await client.delete(endpoint, headers=alice.headers)).status_code == 204
    assert_problem(await client.get(endpoint, headers=alice.headers), 404)


async def test_at_most_ten_endpoints_per_user(api: Api, client: httpx.AsyncClient) -> None:
    carol = await api.person()
    body = {"url": "https://93.184.216.34/", "event_types": ["*"]}
    made = [await client.post(ENDPOINTS, json=body, headers=carol.headers) for _ in range(10)]
    assert [r.status_code for r in made] == [201] * 10
    assert_problem(
        await client.post(ENDPOINTS, json=body, headers=carol.headers), 422, "too_many_endpoints"
    )
    for response in made:  # nothing is ever sent to that address by a later test
        deleted = await client.delete(f"{ENDPOINTS}/{response.json()['id']}", headers=carol.headers)
        assert deleted.status_code == 204


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://LocalHost:9/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://0.0.0.0/hook",
        "http://[::]/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",
        "ftp://93.184.216.34/hook",
        "https://user:pw@93.184.216.34/hook",
        "not a url",
    ],
)
async def test_non_public_or_malformed_targets_are_refused(
    api: Api, client: httpx.AsyncClient, url: str
) -> None:
    dave = await api.person()
    response = await client.post(
        ENDPOINTS, json={"url": url, "event_types": ["*"]}, headers=dave.headers
    )
    assert_problem(response, 400, "validation_error")


async def test_bad_event_types_are_400(api: Api, client: httpx.AsyncClient) -> None:
    erin = await api.person()
    for types in ([], ["nope"], "transaction.created"):
        response = await client.post(
            ENDPOINTS,
            json={"url": "https://93.184.216.34/", "event_types": types},
            headers=erin.headers,
        )
        assert_problem(response, 400)


async def test_a_retried_create_or_rotation_answers_the_first_outcome(
    api: Api, client: httpx.AsyncClient
) -> None:
    dana = await api.person()
    body = {"url": "https://93.184.216.34/retry", "event_types": ["*"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await client.post(ENDPOINTS, json=body, headers={**dana.headers, **key})
    again = await client.post(ENDPOINTS, json=body, headers={**dana.headers, **key})
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json()  # the same endpoint and the same secret
    listed = (await client.get(ENDPOINTS, headers=dana.headers)).json()["results"]
    assert [e["id"] for e in listed] == [first.json()["id"]]
    other = {**body, "url": "https://93.184.216.34/other"}
    reused = await client.post(ENDPOINTS, json=other, headers={**dana.headers, **key})
    assert_problem(reused, 422, "idempotency_key_reused")

    rotate = f"{ENDPOINTS}/{first.json()['id']}/rotate-secret"
    key = {"Idempotency-Key": uuid.uuid4().hex}
    rotated = await client.post(rotate, headers={**dana.headers, **key})
    replayed = await client.post(rotate, headers={**dana.headers, **key})
    assert rotated.status_code == replayed.status_code == 200, (rotated.text, replayed.text)
    assert replayed.json()["secret"] == rotated.json()["secret"] != first.json()["secret"]
    fresh = await client.post(rotate, headers=dana.headers)  # no key: rotates again
    assert fresh.json()["secret"] not in (rotated.json()["secret"], first.json()["secret"])
