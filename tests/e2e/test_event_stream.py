"""The live stream over real servers: two ``wallet serve`` processes on one database and Redis,
a Server-Sent Events client on one, money moved through the other (and through this process);
every event arrives once, in order; a reconnect with ``Last-Event-ID`` resumes with no gap and no
repeat; a stream ends when its access token expires; the per-user cap answers 429."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from environment import app_environment
from servers import ServerProcess, wallet_serve
from support import PASSWORD, Api, Person, idem

STREAM = "/api/v1/events/stream"
TTL_SECONDS = 20


@dataclass
class Servers:
    reader: ServerProcess
    writer: ServerProcess


@pytest.fixture(scope="module")
async def servers(
    database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Servers]:
    env = app_environment(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ACCESS_TOKEN_TTL_SECONDS=str(TTL_SECONDS),
    )
    async with (
        wallet_serve(env, tmp_path_factory.mktemp("reader")) as reader,
        wallet_serve(env, tmp_path_factory.mktemp("writer")) as writer,
    ):
        yield Servers(reader, writer)


@dataclass
class SseClient:
    """Reads one stream into ``events`` (id, type, data) until closed or cancelled."""

    response: httpx.Response
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line.startswith(":"):
                    self.comments.append(line)
                elif line == "":
                    if "id" in fields:
                        self.events.append(
                            (fields["id"], fields["event"], json.loads(fields["data"]))
                        )
                    fields = {}
                else:
                    name, _, value = line.partition(": ")
                    fields[name] = value
        finally:
            self.ended.set()

    async def until(self, count: int, timeout: float = 30) -> None:
        async def wait() -> None:
            while len(self.events) < count and not self.ended.is_set():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(wait(), timeout)
        assert len(self.events) >= count, (self.events, self.comments)


async def open_stream(
    http: httpx.AsyncClient, person: Person, last_event_id: str | None = None
) -> tuple[SseClient, asyncio.Task[None], Any]:
    headers = dict(person.headers)
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    context = http.stream("GET", STREAM, headers=headers, timeout=httpx.Timeout(60, read=60))
    response = await context.__aenter__()
    assert response.status_code == 200, await response.aread()
    assert response.headers["content-type"].startswith("text/event-stream")
    client = SseClient(response)
    task = asyncio.create_task(client.run())
    while not client.comments:  # the server's first comment: the stream is in place
        await asyncio.sleep(0.02)
    return client, task, context


async def close_stream(task: asyncio.Task[None], context: Any) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await context.__aexit__(None, None, None)


async def send(http: httpx.AsyncClient, sender: Person, recipient: Person, amount: str) -> str:
    response = await http.post(
        "/api/v1/wallet/transactions",
        json={"type": "transfer", "amount": amount, "recipient": recipient.username},
        headers={**sender.headers, **idem()},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_events_made_elsewhere_arrive_once_in_order_and_resume_without_gap(
    servers: Servers, api: Api
) -> None:
    alice, bob = await api.person(), await api.person()
    await api.fund(alice, "10.00")
    async with (
        httpx.AsyncClient(base_url=servers.reader.base) as reader,
        httpx.AsyncClient(base_url=servers.writer.base) as writer,
    ):
        client, task, context = await open_stream(reader, bob)
        first = await send(writer, alice, bob, "1.00")  # another server process
        second = await send(api.client, alice, bob, "2.00")  # this process
        await client.until(2)
        await close_stream(task, context)
        assert [(t, d["data"]["transaction"]["id"]) for _, t, d in client.events] == [
            ("transaction.created", first),
            ("transaction.created", second),
        ]
        assert [i for i, _, d in client.events] == [d["id"] for _, _, d in client.events]

        # While disconnected: three more; resuming after the first sees the four after it.
        missed = [await send(writer, alice, bob, f"0.0{n}") for n in (1, 2, 3)]
        resumed, task, context = await open_stream(reader, bob, client.events[0][0])
        await resumed.until(4)
        late = await send(writer, alice, bob, "0.04")
        await resumed.until(5)
        await close_stream(task, context)
        ids = [d["data"]["transaction"]["id"] for _, _, d in resumed.events]
        assert ids == [second, *missed, late]
        one = await reader.get(f"/api/v1/events/{resumed.events[0][0]}", headers=bob.headers)
        assert one.json() == resumed.events[0][2]


async def test_a_stream_ends_when_its_token_expires(servers: Servers, api: Api) -> None:
    carol = await api.person()
    async with httpx.AsyncClient(base_url=servers.reader.base) as reader:
        login = await reader.post(
            "/api/v1/auth/token", json={"email": carol.email, "password": PASSWORD}
        )
        short = Person(**{**carol.__dict__, "access_token": login.json()["access_token"]})
        client, task, context = await open_stream(reader, short)
        await asyncio.wait_for(client.ended.wait(), TTL_SECONDS + 30)
        await task
        await context.__aexit__(None, None, None)


async def test_too_many_streams_of_one_user_is_429(servers: Servers, api: Api) -> None:
    dave = await api.person()
    async with httpx.AsyncClient(base_url=servers.reader.base) as reader:
        opened = [await open_stream(reader, dave) for _ in range(5)]
        refused = await reader.get(STREAM, headers=dave.headers)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        for _, task, context in opened:
            await close_stream(task, context)
