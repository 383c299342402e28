"""The benchmark's data: funded users with tokens, one hot sender, one wallet with many
transactions (by COPY, its totals kept consistent so the audit stays clean)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from uuid_utils.compat import uuid7

from adapters.security.argon2_hasher import Argon2PasswordHasher
from adapters.security.jwt_tokens import JwtTokenIssuer
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from wallet_core.queries import Cursor, Ordering, encode_cursor
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor

PASSWORD = "bench passphrase 0123"
PAYSEND_SECRET = "bench-paysend-secret-0123456789"


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def seed(url: str, users: int, rows: int, secret_key: str) -> dict[str, Any]:
    """Users with funded wallets, one hot sender, one wallet with ``rows`` transactions."""
    settings = load_settings(
        {
            "DATABASE_URL": url,
            "ENV": "test",
            "ARGON2_TIME_COST": "1",
            "ARGON2_MEMORY_COST_KIB": "8",
        },
        env_file=None,
    )
    container = build(settings)
    core = container.core
    tokens = JwtTokenIssuer(secret_key, ttl_seconds=6 * 3600)
    now = datetime.now(UTC)
    staff_user, _ = await core.auth.register(
        Registration("ops@bench.test", "ops", PASSWORD, "+19990000000", is_staff=True)
    )
    staff = Actor(staff_user.id, is_staff=True)

    async def person(i: int, amount: str) -> dict[str, Any]:
        user, wallet = await core.auth.register(
            Registration(f"u{i}@bench.test", f"user{i}", PASSWORD, f"+1999{i:07d}")
        )
        await core.deposits.manual(staff, amount=amount, wallet_id=wallet.id)
        return {
            "id": str(user.id),
            "wallet_id": str(wallet.id),
            "username": user.username,
            "phone": user.phone_number,
            "token": tokens.issue_access(user, now).token,
        }

    people = []
    for start in range(1, users + 1, 50):
        people += await asyncio.gather(
            *(person(i, "100000.00") for i in range(start, min(start + 50, users + 1)))
        )
    hot = await person(users + 1, "100000000.00")
    heavy = await person(users + 2, "1.00")
    # The login user has a production-strength hash, like everyone in production would.
    real_hash = await Argon2PasswordHasher().hash(PASSWORD)
    await container.close()
    conn = await asyncpg.connect(dsn(url))
    try:
        await conn.execute(
            "UPDATE users SET password_hash = $1 WHERE email = 'u1@bench.test'", real_hash
        )
        cursor = await copy_transactions(conn, heavy, rows)
    finally:
        await conn.close()
    heavy["cursor"] = cursor
    return {
        "users": people,
        "hot": hot,
        "heavy": heavy,
        "paysend_secret": PAYSEND_SECRET,
        "login": {"email": "u1@bench.test", "password": PASSWORD},
    }


async def copy_transactions(conn: asyncpg.Connection, heavy: dict[str, Any], rows: int) -> str:
    """``rows`` completed manual deposits into the heavy wallet, by COPY, with their entries and
    the accounts' totals kept consistent (the audit stays clean). Returns the keyset cursor that
    sits at page 1,000 (row 9,990) of the default ordering."""
    if rows == 0:
        return ""
    wallet = uuid.UUID(heavy["wallet_id"])
    user = uuid.UUID(heavy["id"])
    username = await conn.fetchval("SELECT username FROM users WHERE id = $1", user)
    source = await conn.fetchval(
        "SELECT id FROM accounts WHERE kind = 'system' AND source = 'manual' AND currency = 'USD'"
    )
    base = datetime.now(UTC) - timedelta(days=30)
    # The lines are posted after every line the two accounts already have (each account's posting
    # times strictly increase, and each line carries the balance after it).
    books = {
        r["id"]: r
        for r in await conn.fetch(
            "SELECT id, credits_posted - debits_posted AS balance, updated_at FROM accounts "
            "WHERE id = ANY($1::uuid[])",
            [wallet, source],
        )
    }
    start = max(r["updated_at"] for r in books.values()) + timedelta(milliseconds=1)
    transactions, entries = [], []
    for i in range(rows):
        created = base + timedelta(microseconds=i * 2000)
        posted = start + timedelta(microseconds=i)
        tid = uuid7()
        transactions.append(
            (
                tid,
                "deposit",
                "completed",
                1,
                "USD",
                "manual",
                source,
                wallet,
                f"BCH-{i:010d}",
                "seeded",
                None,
                None,
                None,
                None,
                user,
                username,
                wallet,
                None,
                created,
                None,
                0,
                created,
                created,
            )
        )
        entries.append(
            (uuid7(), tid, source, "debits_posted", 1, posted, books[source]["balance"] - i - 1)
        )
        entries.append(
            (uuid7(), tid, wallet, "credits_posted", 1, posted, books[wallet]["balance"] + i + 1)
        )
    last_posted = start + timedelta(microseconds=rows - 1)
    columns = [
        "id",
        "type",
        "status",
        "amount",
        "currency",
        "funding_source",
        "debit_account_id",
        "credit_account_id",
        "reference",
        "description",
        "provider_id",
        "sender_user_id",
        "sender_username",
        "sender_wallet_id",
        "recipient_user_id",
        "recipient_username",
        "recipient_wallet_id",
        "expires_at",
        "completed_at",
        "code_digest",
        "failed_attempts",
        "created_at",
        "updated_at",
    ]
    async with conn.transaction():
        await conn.copy_records_to_table("transactions", records=transactions, columns=columns)
        await conn.copy_records_to_table(
            "entries",
            records=entries,
            columns=[
                "id",
                "transaction_id",
                "account_id",
                "total",
                "delta",
                "posted_at",
                "balance_after",
            ],
        )
        await conn.execute(
            "UPDATE accounts SET credits_posted = credits_posted + $1, "
            "transaction_count = transaction_count + $1, updated_at = $3 WHERE id = $2",
            rows,
            wallet,
            last_posted,
        )
        await conn.execute(
            "UPDATE accounts SET debits_posted = debits_posted + $1, "
            "transaction_count = transaction_count + $1, updated_at = $3 WHERE id = $2",
            rows,
            source,
            last_posted,
        )
    await conn.execute("VACUUM ANALYZE")  # what autovacuum would have done by now
    depth = min(9_990, rows - 1)
    row = await conn.fetchrow(
        "SELECT id, created_at FROM transactions WHERE recipient_user_id = $1 OR sender_user_id = $1 "
        "ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1",
        user,
        depth - 1,
    )
    ordering = (Ordering("created_at", descending=True),)
    return encode_cursor(Cursor((row["created_at"],), row["id"]), ordering)
