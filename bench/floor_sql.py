"""The database floor for our schema: pgbench replaying the service's own statements for a pair.

``script`` turns a :class:`~statements.Capture` into a pgbench script (``-M prepared``): per
transaction it picks a random sender and a different random recipient among the seeded people,
then sends the four captured statements (the create's read and write, the accept's read and
write) byte for byte, as prepared statements, every argument a pgbench variable. The variables
come from one extra query per pair (``\\gset``): the two people's ids from ``bench_people``, new
time-ordered ids, the clock, a fresh reference and idempotency keys. A NULL argument is written
into the statement as ``NULL`` (pgbench cannot carry a NULL in a variable).

One pgbench transaction is one pair, so its tps is pairs/s.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg

from statements import CAPTURE_KEYS, UUID_TEXT, Capture

SETUP = r"""
CREATE TABLE IF NOT EXISTS bench_people (
    n integer PRIMARY KEY, user_id uuid NOT NULL, wallet_id uuid NOT NULL, username text NOT NULL
);
CREATE OR REPLACE FUNCTION bench_uuid7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || '7' || substr(md5(random()::text), 1, 19))::uuid
$$;
"""


async def prepare(conn: asyncpg.Connection, people: list[dict[str, Any]]) -> None:
    """The people the script picks from (numbered from 1), and the id function it uses."""
    await conn.execute(SETUP)
    await conn.execute("TRUNCATE bench_people")
    await conn.copy_records_to_table(
        "bench_people",
        records=[
            (n, UUID(p["id"]), UUID(p["wallet_id"]), p["username"]) for n, p in enumerate(people, 1)
        ],
    )


def literal(text: str) -> str:
    """A SQL string literal pgbench leaves alone: no ``:`` (it would read a variable there)."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace(":", "\\x3a")
    return f"E'{escaped}'"


class _Renderer:
    """Each captured value as a SQL expression over ``g`` (the pair's new values), ``sender`` and
    ``recipient`` (rows of ``bench_people``)."""

    def __init__(self, capture: Capture) -> None:
        self.known = capture.known_uuids()
        self.strings = {
            capture.sender["username"]: "sender.username",
            capture.recipient["username"]: "recipient.username",
            capture.reference: "g.reference",
            CAPTURE_KEYS[0]: "g.key0",
            CAPTURE_KEYS[1]: "g.key1",
        }
        self.fresh: dict[UUID, str] = {}
        clock = capture.statements[1].now
        assert clock is not None, "the create's write carries no timestamp"
        self.clock = clock

    def uuid(self, value: UUID) -> str:
        if value in self.known:
            return self.known[value]
        if value not in self.fresh:
            self.fresh[value] = f"g.u{len(self.fresh) + 1}"
        return self.fresh[value]

    def text(self, value: str) -> str:
        if value in self.strings:
            return self.strings[value]
        parts, last = [], 0
        for match in UUID_TEXT.finditer(value):
            if match.start() > last:
                parts.append(literal(value[last : match.start()]))
            parts.append(f"{self.uuid(UUID(match[0]))}::text")
            last = match.end()
        if last < len(value) or not parts:
            parts.append(literal(value[last:]))
        return "(" + " || ".join(parts) + ")" if len(parts) > 1 else parts[0]

    def value(self, value: Any, cast: str) -> str:
        element = cast.removesuffix("[]")
        if isinstance(value, list):
            if not value:
                return f"'{{}}'::{cast}"
            return f"ARRAY[{', '.join(self.value(v, element) for v in value)}]::{cast}"
        if value is None:
            return f"NULL::{element}"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, UUID):
            return self.uuid(value)
        if isinstance(value, datetime):
            microseconds = round((value - self.clock).total_seconds() * 1_000_000)
            return f"(g.t0 + interval '{microseconds} microseconds')"
        if isinstance(value, int):
            return f"{value}::{element}" if element != "text" else str(value)
        if isinstance(value, bytes):
            return f"'\\x{value.hex()}'::bytea"
        if isinstance(value, str):
            return f"{self.text(value)}::{element}" if element != "text" else self.text(value)
        raise TypeError(f"cannot render {value!r}")

    def new_values(self) -> str:
        columns = ["clock_timestamp() AS t0"]
        columns += [f"bench_uuid7() AS {name[2:]}" for name in self.fresh.values()]
        columns += [
            "'TRF-' || upper(substr(md5(random()::text), 1, 10)) AS reference",
            "md5(random()::text) AS key0",
            "md5(random()::text) AS key1",
        ]
        return ", ".join(columns)


_PLACEHOLDER = re.compile(r"\$(\d+)(?!\d)")


def script(capture: Capture) -> str:
    """The pgbench script for one pair (needs ``-M prepared -D people=N``)."""
    render = _Renderer(capture)
    selected: list[str] = []
    bodies: list[str] = []
    for i, statement in enumerate(capture.statements):
        casts = statement.casts

        def placeholder(match: re.Match[str], i: int = i, args: list[Any] = statement.args) -> str:
            n = int(match[1])
            if args[n - 1] is None:
                return "NULL"
            return f":p{i}_{n}"

        for n, arg in enumerate(statement.args, 1):
            if arg is not None:
                cast = casts.get(n, "text")
                selected.append(f"{render.value(arg, cast)}::text AS p{i}_{n}")
        bodies.append(_PLACEHOLDER.sub(placeholder, statement.sql.strip()) + ";")
    bind = (
        f"WITH g AS MATERIALIZED (SELECT {render.new_values()})\n"
        f"SELECT {', '.join(selected)}\n"
        "FROM g, bench_people sender, bench_people recipient\n"
        "WHERE sender.n = :s AND recipient.n = :r \\gset"
    )
    return "\n".join(
        [
            "\\set s random(1, :people)",
            "\\set r 1 + (:s + random(0, :people - 2)) % :people",
            bind,
            *bodies,
            "",
        ]
    )


def pgbench_args(url: Any) -> list[str]:
    """Connection options for pgbench from a SQLAlchemy URL."""
    return [
        "-h",
        url.host or "127.0.0.1",
        "-p",
        str(url.port or 5432),
        "-U",
        url.username or "postgres",
    ]


def replay(
    url: Any,
    script_file: Path,
    people: int,
    *,
    clients: int,
    seconds: int | None = None,
    transactions: int | None = None,
) -> dict[str, Any]:
    """Run the script for ``seconds`` (or ``transactions`` per client); pairs/s and failures."""
    length = ["-T", str(seconds)] if seconds is not None else ["-t", str(transactions)]
    done = subprocess.run(
        [
            "pgbench",
            *pgbench_args(url),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            *length,
            "-D",
            f"people={people}",
            "-f",
            str(script_file),
            url.database,
        ],
        capture_output=True,
        text=True,
    )
    tps = re.search(r"tps = ([0-9.]+)", done.stdout)
    processed = re.search(r"actually processed: (\d+)", done.stdout)
    failed = re.search(r"failed transactions: (\d+)", done.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", done.stdout)
    aborted = done.returncode != 0 or "aborted" in done.stderr
    return {
        "pairs_per_s": float(tps[1]) if tps else 0.0,
        "pairs": int(processed[1]) if processed else 0,
        "failed": int(failed[1]) if failed else 0,
        "latency_ms": float(latency[1]) if latency else float("nan"),
        "aborted": aborted,
        "stderr": done.stderr[-2000:] if aborted else "",
    }


def tpcb(server: Any, database: str, seconds: int, clients: int) -> float:
    """pgbench's own TPC-B-like script (scale 10, simple protocol) on ``database`` (created and
    dropped by the caller): tps, the reference every money figure is divided by."""
    args = pgbench_args(server)
    subprocess.run(
        ["pgbench", *args, "-i", "-s", "10", "-q", database], check=True, capture_output=True
    )
    out = subprocess.run(
        ["pgbench", *args, "-c", str(clients), "-j", "2", "-T", str(seconds), database],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"tps = ([0-9.]+)", out)
    assert found is not None, out
    return float(found[1])
