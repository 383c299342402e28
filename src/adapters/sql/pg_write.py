"""A :class:`~wallet_core.journal.LedgerWrite` as ONE PostgreSQL statement: one round trip and,
sent outside any transaction, one commit.

The statement, in the order PostgreSQL runs its parts (each part reads the one before, which
forces that order):

1. ``key_lock``/``claim``: the idempotency key's advisory lock (held until the statement ends,
   so a duplicate sees the key in flight) and its receipt, inserted, or taking over an expired
   one. A key holding an unexpired receipt inserts nothing, and nothing else happens.
2. ``tlocked``/``alocked``: the changed transactions, then the accounts, locked in id order (so
   concurrent writes never deadlock), as they are now.
3. ``verdict``: the guards of :func:`wallet_core.journal.refusal`, on those rows. If one fails,
   ``wallet_refuse()`` raises SQLSTATE WLT01 and the whole statement, receipt included, is undone.
4. the writes: account totals (each account's ``updated_at`` strictly increasing), transaction
   changes, new transactions, entries (their posting time is their account's new ``updated_at``,
   and a posted line's ``balance_after`` the balance the account update returned: exact however
   many writes race, since the row is locked), notifications, events and who may see them. Each
   event's position is this transaction's id and the next value of ``events_seq`` (see
   :mod:`adapters.sql.events`), and a ``NOTIFY`` wakes the live streams of every process once the
   write commits.

Every value travels as a parameter (arrays, unnested); names come from our own table definitions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import JSON, BigInteger, Boolean, Integer, LargeBinary, String, Table
from sqlalchemy import Column as SqlColumn

from adapters.sql import mappers
from adapters.sql.events import CHANNEL as EVENTS_CHANNEL
from adapters.sql.records import OutboxRecord, TransactionRecord, table_of
from wallet_core.journal import LedgerWrite

REFUSED_SQLSTATE = "WLT01"

_TRANSACTIONS = table_of(TransactionRecord)
_OUTBOX = table_of(OutboxRecord)
#: What a transaction change may set (everything else about a transaction is immutable).
TRANSACTION_CHANGES = ("status", "updated_at", "completed_at", "failed_attempts", "reversed_amount")


def _array_type(column: SqlColumn[Any]) -> tuple[str, str]:
    """(the parameter's array element type, a cast applied to each unnested value)."""
    kind = column.type
    for sql_type, name in (
        (GUID, "uuid"),
        (DateTimeUTC, "timestamptz"),
        (BigInteger, "bigint"),
        (Integer, "integer"),
        (Boolean, "boolean"),
        (LargeBinary, "bytea"),
    ):
        if isinstance(kind, sql_type):
            return name, ""
    if isinstance(kind, JSON):
        return "text", "::jsonb"
    if isinstance(kind, String):
        return "text", ""
    raise TypeError(f"no array type for column {column}")


Getter = Callable[["_Prepared"], Any]


class _Params:
    """The statement's parameters: each a cast and how to read its value off a write."""

    def __init__(self) -> None:
        self.getters: list[Getter] = []

    def add(self, get: Getter, cast: str) -> str:
        self.getters.append(get)
        return f"${len(self.getters)}::{cast}"


class _Prepared:
    """What the parameters read, computed once per write."""

    def __init__(self, write: LedgerWrite) -> None:
        self.write = write
        self.receipt = mappers.receipt_to_row(write.receipt) if write.receipt else {}
        self.changes = write.changed
        self.after = [mappers.transaction_to_row(c.after) for c in write.changed]
        self.deltas = write.deltas()
        self.entries = write.entries
        self.events = write.events
        self.viewers = [(u, e.id) for e in write.events for u in e.user_ids]
        self.columns = {
            "created": _columns(
                _TRANSACTIONS, [mappers.transaction_to_row(t) for t in write.created]
            ),
            "notes": _columns(_OUTBOX, [mappers.outbox_to_row(n) for n in write.notifications]),
        }


_JSON_COLUMNS = {
    table.name: {c.name for c in table.columns if isinstance(c.type, JSON)}
    for table in (_TRANSACTIONS, _OUTBOX)
}


_encode = msgspec.json.Encoder().encode


def _json(data: Any) -> str:
    """Compact JSON text for a ``::jsonb`` parameter (PostgreSQL parses it: any valid form)."""
    return _encode(data).decode()


def _columns(table: Table, rows: list[dict[str, Any]]) -> list[list[Any]]:
    """The rows as one list per column of ``table``, in the table's column order."""
    names = [c.name for c in table.columns]
    json_columns = _JSON_COLUMNS[table.name]
    for row in rows:
        for name in json_columns:
            if row[name] is not None:
                row[name] = _json(row[name])
    if not rows:
        return [[] for _ in names]
    return [list(values) for values in zip(*([row[n] for n in names] for row in rows), strict=True)]


def _insert_rows(name: str, table: Table, p: _Params) -> str:
    columns = list(table.columns)
    arrays = []
    for index, column in enumerate(columns):
        element, _ = _array_type(column)

        def get(w: _Prepared, index: int = index) -> list[Any]:
            return w.columns[name][index]

        arrays.append(p.add(get, f"{element}[]"))
    names = ", ".join(c.name for c in columns)
    selected = ", ".join(f"x.{c.name}{_array_type(c)[1]}" for c in columns)
    return (
        f"{name} AS (INSERT INTO {table.name} ({names})"  # noqa: S608 - our own names
        f" SELECT {selected} FROM unnest({', '.join(arrays)}) AS x({names})"
        " WHERE (SELECT go FROM verdict) RETURNING 1)"
    )


_DELTAS = (
    "debits_posted",
    "credits_posted",
    "debits_pending",
    "credits_pending",
    "transaction_count",
)


def _build() -> tuple[str, list[Getter]]:
    p = _Params()
    scope = p.add(lambda w: w.receipt.get("scope"), "text")
    key = p.add(lambda w: w.receipt.get("key"), "text")
    fingerprint = p.add(lambda w: w.receipt.get("fingerprint"), "text")
    body = p.add(lambda w: w.receipt.get("receipt"), "bytea")
    created = p.add(lambda w: w.receipt.get("created_at"), "timestamptz")
    expires = p.add(lambda w: w.receipt.get("expires_at"), "timestamptz")
    keyed = f"{scope} IS NOT NULL"
    claimed = f"(NOT {keyed} OR EXISTS (SELECT 1 FROM claim))"  # noqa: S608 - placeholders

    def after(name: str) -> Getter:
        return lambda w: [row[name] for row in w.after]

    tv = ", ".join(
        [
            p.add(lambda w: [c.before.id for c in w.changes], "uuid[]"),
            p.add(lambda w: [c.before.status.value for c in w.changes], "text[]"),
            p.add(lambda w: [c.before.failed_attempts for c in w.changes], "integer[]"),
            p.add(lambda w: [c.before.reversed_amount for c in w.changes], "bigint[]"),
            p.add(lambda w: [c.unexpired_at for c in w.changes], "timestamptz[]"),
            *(
                p.add(after(name), f"{_array_type(_TRANSACTIONS.c[name])[0]}[]")
                for name in TRANSACTION_CHANGES
            ),
        ]
    )

    def delta(name: str) -> Getter:
        return lambda w: [getattr(d, name) for d in w.deltas.values()]

    av = ", ".join(
        [
            p.add(lambda w: list(w.deltas), "uuid[]"),
            *(p.add(delta(name), "bigint[]") for name in _DELTAS),
            p.add(lambda w: [i in w.write.active for i in w.deltas], "boolean[]"),
        ]
    )
    now = p.add(lambda w: w.write.now, "timestamptz")
    n_changed = p.add(lambda w: len(w.changes), "integer")
    n_accounts = p.add(lambda w: len(w.deltas), "integer")
    ev = ", ".join(
        [
            p.add(lambda w: [e.id for e in w.entries], "uuid[]"),
            p.add(lambda w: [e.transaction_id for e in w.entries], "uuid[]"),
            p.add(lambda w: [e.account_id for e in w.entries], "uuid[]"),
            p.add(lambda w: [e.column.value for e in w.entries], "text[]"),
            p.add(lambda w: [e.delta for e in w.entries], "bigint[]"),
        ]
    )
    events = ", ".join(
        [
            p.add(lambda w: [e.id for e in w.events], "uuid[]"),
            p.add(lambda w: [e.type.value for e in w.events], "text[]"),
            p.add(lambda w: [e.created_at for e in w.events], "timestamptz[]"),
            p.add(lambda w: [_json(e.data) for e in w.events], "text[]"),
            p.add(lambda w: [e.transaction_id for e in w.events], "uuid[]"),
            p.add(lambda w: [e.wallet_id for e in w.events], "uuid[]"),
        ]
    )
    viewers = ", ".join(
        [
            p.add(lambda w: [user for user, _ in w.viewers], "uuid[]"),
            p.add(lambda w: [event for _, event in w.viewers], "uuid[]"),
        ]
    )
    sets = ", ".join(f"{name} = tv.{name}" for name in TRANSACTION_CHANGES)
    sql = f"""
WITH key_lock AS (
    SELECT CASE WHEN {keyed}
        THEN pg_try_advisory_xact_lock(hashtextextended({scope} || ' ' || {key}, 0))
        ELSE true END AS got
),
claim AS (
    INSERT INTO idempotency_keys (scope, key, fingerprint, receipt, created_at, expires_at)
    SELECT {scope}, {key}, {fingerprint}, {body}, {created}, {expires}
    FROM key_lock WHERE {keyed} AND key_lock.got
    ON CONFLICT (scope, key) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,
        receipt = EXCLUDED.receipt, created_at = EXCLUDED.created_at,
        expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= EXCLUDED.created_at
    RETURNING 1
),
tv AS (
    SELECT * FROM unnest({tv}) AS tv(id, before_status, before_attempts, before_reversed,
        unexpired_at,
        {", ".join(TRANSACTION_CHANGES)})
),
tlocked AS (
    SELECT t.id, t.status, t.failed_attempts, t.reversed_amount, t.expires_at FROM transactions t
    WHERE t.id IN (SELECT id FROM tv) AND {claimed}
    ORDER BY t.id FOR UPDATE
),
av AS (
    SELECT * FROM unnest({av}) AS av(id, dp, cp, dpe, cpe, tc, active)
),
alocked AS (
    SELECT a.id, a.kind, a.is_active, a.debits_posted, a.credits_posted, a.debits_pending,
        a.credits_pending
    FROM accounts a
    WHERE a.id IN (SELECT id FROM av) AND {claimed} AND (SELECT count(*) FROM tlocked) >= 0
    ORDER BY a.id FOR UPDATE
),
verdict AS (
    SELECT CASE
        WHEN NOT (SELECT got FROM key_lock) OR NOT {claimed} THEN false
        WHEN (SELECT count(*) FROM tlocked) = {n_changed}
            AND NOT EXISTS (
                SELECT 1 FROM tlocked l JOIN tv ON tv.id = l.id
                WHERE l.status <> tv.before_status OR l.failed_attempts <> tv.before_attempts
                    OR l.reversed_amount <> tv.before_reversed
                    OR (tv.unexpired_at IS NOT NULL AND l.expires_at IS NOT NULL
                        AND l.expires_at <= tv.unexpired_at))
            AND (SELECT count(*) FROM alocked) = {n_accounts}
            AND NOT EXISTS (
                SELECT 1 FROM alocked l JOIN av ON av.id = l.id
                WHERE (av.active AND l.kind = 'wallet' AND NOT l.is_active)
                    OR l.debits_posted + av.dp < 0 OR l.credits_posted + av.cp < 0
                    OR l.debits_pending + av.dpe < 0 OR l.credits_pending + av.cpe < 0
                    OR (l.kind = 'wallet' AND (l.credits_posted + av.cp) - (l.debits_posted + av.dp)
                        - (l.debits_pending + av.dpe) < 0))
        THEN true
        ELSE wallet_refuse()
    END AS go
),
moved AS (
    UPDATE accounts a SET debits_posted = a.debits_posted + av.dp,
        credits_posted = a.credits_posted + av.cp,
        debits_pending = a.debits_pending + av.dpe,
        credits_pending = a.credits_pending + av.cpe,
        transaction_count = a.transaction_count + av.tc,
        updated_at = GREATEST({now}, a.updated_at + interval '1 microsecond')
    FROM av WHERE a.id = av.id AND (SELECT go FROM verdict)
    RETURNING a.id, a.updated_at, a.credits_posted - a.debits_posted AS balance
),
changed AS (
    UPDATE transactions t SET {sets}
    FROM tv WHERE t.id = tv.id AND (SELECT go FROM verdict)
    RETURNING 1
),
{_insert_rows("created", _TRANSACTIONS, p)},
lines AS (
    INSERT INTO entries (id, transaction_id, account_id, total, delta, posted_at, balance_after)
    SELECT e.id, e.transaction_id, e.account_id, e.total, e.delta, m.updated_at,
        CASE WHEN e.total IN ('debits_posted', 'credits_posted') THEN m.balance END
    FROM unnest({ev}) AS e(id, transaction_id, account_id, total, delta)
    JOIN moved m ON m.id = e.account_id
    WHERE (SELECT go FROM verdict)
    RETURNING 1
),
{_insert_rows("notes", _OUTBOX, p)},
told AS (
    INSERT INTO events (id, type, created_at, data, transaction_id, wallet_id, xid, seq)
    SELECT x.id, x.type, x.created_at, x.data::jsonb, x.transaction_id, x.wallet_id,
        pg_current_xact_id()::text::bigint, nextval('events_seq')
    FROM unnest({events}) AS x(id, type, created_at, data, transaction_id, wallet_id)
    WHERE (SELECT go FROM verdict)
    RETURNING 1
),
viewers AS (
    INSERT INTO event_viewers (user_id, event_id)
    SELECT v.user_id, v.event_id FROM unnest({viewers}) AS v(user_id, event_id)
    WHERE (SELECT go FROM verdict)
    RETURNING 1
),
woken AS (
    SELECT pg_notify('{EVENTS_CHANNEL}', '') WHERE EXISTS (SELECT 1 FROM told)
)
SELECT (SELECT got FROM key_lock) AS got, {claimed} AS claimed,
    (SELECT go FROM verdict) AS applied, (SELECT count(*) FROM woken) AS woken
"""  # noqa: S608 - the names are ours; every value is a parameter
    return sql, p.getters


SQL, _GETTERS = _build()


def statement(write: LedgerWrite) -> tuple[str, list[Any]]:
    """The write's one statement (always the same text: prepared once per connection) and its
    arguments."""
    prepared = _Prepared(write)
    return SQL, [get(prepared) for get in _GETTERS]
