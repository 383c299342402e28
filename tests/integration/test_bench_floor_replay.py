"""The database floor's pgbench script, run for real: a pair captured from the app, replayed by
pgbench between random seeded people, moves money exactly as the service would (every replayed
pair completed, the books balanced, the audit clean)."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings

# Appended, not inserted: tests/ and bench/ both have a servers module.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import floor_sql
import statements
from seed import dsn, seed

SECRET_KEY = "bench-test-secret-key-" + "x" * 40
PEOPLE = 5
CLIENTS, PAIRS_PER_CLIENT = 2, 4

pytestmark = pytest.mark.skipif(shutil.which("pgbench") is None, reason="pgbench not installed")


@pytest.fixture
async def seeded(redis_url: str) -> AsyncIterator[tuple[str, dict[str, object]]]:
    url = await create_database(prefix="wallet_bench_floor")
    try:
        yield url, await seed(url, PEOPLE, 0, SECRET_KEY)
    finally:
        await drop_database(url)


async def _books(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT sum(credits_posted - debits_posted) AS posted,
            sum(credits_pending - debits_pending) AS pending,
            sum(credits_posted - debits_posted) FILTER (WHERE kind = 'wallet') AS wallets,
            (SELECT count(*) FROM transactions WHERE type = 'transfer' AND status = 'completed')
                AS completed,
            (SELECT count(*) FROM transactions WHERE status = 'pending') AS waiting,
            (SELECT count(*) FROM idempotency_keys) AS receipts
        FROM accounts"""
    )


async def test_the_replayed_pairs_move_money_like_the_service(
    seeded: tuple[str, dict[str, object]], redis_url: str, tmp_path: Path
) -> None:
    url, data = seeded
    captured = await statements.capture(url, redis_url, SECRET_KEY, data)
    assert [s.sql.lstrip().split()[0] for s in captured.statements] == [
        "SELECT",
        "WITH",
        "SELECT",
        "WITH",
    ]
    script = tmp_path / "pair.sql"
    script.write_text(floor_sql.script(captured))
    conn = await asyncpg.connect(dsn(url))
    try:
        people = data["users"]
        assert isinstance(people, list)
        await floor_sql.prepare(conn, people)
        before = await _books(conn)
        done = floor_sql.replay(
            make_url(url), script, len(people), clients=CLIENTS, transactions=PAIRS_PER_CLIENT
        )
        assert not done["aborted"], done["stderr"]
        assert done["pairs"] == CLIENTS * PAIRS_PER_CLIENT
        after = await _books(conn)
        moved = await conn.fetch(
            "SELECT sender_user_id, recipient_user_id, amount FROM transactions"
            " WHERE type = 'transfer' ORDER BY created_at"
        )
    finally:
        await conn.close()
    pairs = CLIENTS * PAIRS_PER_CLIENT
    assert after["completed"] == before["completed"] + pairs
    assert after["waiting"] == 0
    assert after["receipts"] == before["receipts"] + 2 * pairs  # a create's and an accept's
    assert after["posted"] == 0 and after["pending"] == 0  # every entry has its counterpart
    assert after["wallets"] == before["wallets"]  # transfers only move money between wallets
    replayed = moved[-pairs:]
    assert all(r["sender_user_id"] != r["recipient_user_id"] for r in replayed)
    assert all(r["amount"] == statements.CAPTURE_AMOUNT for r in replayed)
    assert (
        len({r["sender_user_id"] for r in replayed} | {r["recipient_user_id"] for r in replayed})
        > 2
    )

    settings = load_settings({"DATABASE_URL": url, "ENV": "test"}, env_file=None)
    container = build(settings)
    try:
        audit = await container.core.audit.run()
    finally:
        await container.close()
    assert audit.ok, audit.problems


async def test_the_floor_app_moves_money_with_the_captured_statements(
    seeded: tuple[str, dict[str, object]],
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from litestar.testing import AsyncTestClient

    import floor_app

    url, data = seeded
    captured = await statements.capture(url, redis_url, SECRET_KEY, data)
    statements.dump(captured, tmp_path / "capture.json")
    monkeypatch.setenv("FLOOR_CAPTURE", str(tmp_path / "capture.json"))
    monkeypatch.setenv("FLOOR_DSN", dsn(url))
    monkeypatch.setenv("FLOOR_SECRET_KEY", SECRET_KEY)
    people = data["users"]
    assert isinstance(people, list)
    conn = await asyncpg.connect(dsn(url))
    try:
        before = await _books(conn)
        async with AsyncTestClient(app=floor_app.create()) as client:
            for sender, recipient in [(2, 3), (3, 4), (4, 2), (2, 3)]:
                created = await client.post(
                    "/api/v1/wallet/transactions",
                    json={
                        "type": "transfer",
                        "amount": "0.25",
                        "recipient": people[recipient]["wallet_id"],
                    },
                    headers={"Authorization": f"Bearer {people[sender]['token']}"},
                )
                assert created.status_code == 201, created.text
                accepted = await client.post(
                    f"/api/v1/wallet/transactions/{created.json()['id']}/action",
                    json={"action": "accept"},
                    headers={"Authorization": f"Bearer {people[recipient]['token']}"},
                )
                assert accepted.status_code == 200, accepted.text
            stranger = await client.post(
                f"/api/v1/wallet/transactions/{created.json()['id']}/action",
                json={"action": "accept"},
                headers={"Authorization": f"Bearer {people[sender]['token']}"},
            )
            assert stranger.status_code == 404  # only the recipient accepts
        after = await _books(conn)
        balances = {
            r["owner_id"]: r["balance"]
            for r in await conn.fetch(
                "SELECT owner_id, credits_posted - debits_posted AS balance FROM accounts"
                " WHERE kind = 'wallet'"
            )
        }
    finally:
        await conn.close()
    assert after["completed"] == before["completed"] + 4
    assert after["receipts"] == before["receipts"] + 8
    assert after["posted"] == 0 and after["pending"] == 0 and after["waiting"] == 0
    assert after["wallets"] == before["wallets"]
    funded = 100_000_00
    ids = [uuid.UUID(people[i]["id"]) for i in (2, 3, 4)]
    # 2 sent 0.25 twice and got 0.25; 3 got two and sent one; 4 got one and sent one.
    assert [balances[i] - funded for i in ids] == [-25, 25, 0]
