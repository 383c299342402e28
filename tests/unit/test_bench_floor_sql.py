"""The floor measurements' statement handling: the pgbench script made from a captured pair, and
the floor app's rebinding of captured arguments. No database: the script's text is checked here,
and tests/integration/test_bench_floor_sql.py runs it."""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

# Appended, not inserted: tests/ and bench/ both have a servers module.
sys.path.append(str(Path(__file__).resolve().parents[2] / "bench"))

import floor_sql
from statements import CAPTURE_KEYS, Capture, Statement, Template, dump, load

SENDER = {"id": str(uuid4()), "wallet_id": str(uuid4()), "username": "alice"}
RECIPIENT = {"id": str(uuid4()), "wallet_id": str(uuid4()), "username": "bob"}
TRANSFER, ENTRY = uuid4(), uuid4()
NOW = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)


def captured() -> Capture:
    sender, sender_wallet = UUID(SENDER["id"]), UUID(SENDER["wallet_id"])
    recipient_wallet = UUID(RECIPIENT["wallet_id"])
    return Capture(
        SENDER,
        RECIPIENT,
        "TRF-ABCDEF1234",
        TRANSFER,
        [
            Statement(
                "SELECT a FROM accounts a WHERE a.owner_id = $1 OR a.id = $2 OR a.x = $3",
                [sender, recipient_wallet, None],
            ),
            Statement(
                "WITH w AS (SELECT $1::text, $2::text, $3::timestamptz, $4::uuid[], $5::bigint[],"
                " $6::text[], $7::bytea, $8::text[], $9::integer) SELECT 1",
                [
                    f"user:{sender}:create-transaction",
                    CAPTURE_KEYS[0],
                    NOW,
                    [sender_wallet, recipient_wallet, TRANSFER],
                    [7, -7],
                    [f'{{"transaction_id":"{TRANSFER}","note":"a: b"}}', None],
                    b"\x01\x02",
                    ["TRF-ABCDEF1234", "alice"],
                    0,
                ],
            ),
            Statement("SELECT t FROM transactions t WHERE t.id = $1", [TRANSFER]),
            Statement(
                "WITH w AS (SELECT $1::uuid[], $2::timestamptz, $3::text) SELECT 1",
                [[TRANSFER, ENTRY], NOW + timedelta(seconds=1), CAPTURE_KEYS[1]],
            ),
        ],
    )


def bound(script: str) -> dict[str, str]:
    """Each pgbench variable the bind query sets -> the SQL expression it is set from."""
    select = next(line for line in script.splitlines() if line.startswith("SELECT "))
    pairs = re.findall(r"(?:SELECT |, )(.+?)::text AS (p\d+_\d+)", select)
    return {name: expression for expression, name in pairs}


def test_every_argument_becomes_a_variable_the_bind_query_sets() -> None:
    script = floor_sql.script(captured())
    assert not re.search(r"\$\d", script), "a placeholder was left in"
    used = set(re.findall(r"(?<!:):([A-Za-z_]\w*)", script))
    values = bound(script)
    assert used - {"s", "r", "people"} == set(values)
    assert len(values) == 1 + 1 + 9 + 1 + 3  # every non-NULL argument of the four statements
    # The NULL travels in the statement's text; pgbench cannot carry one in a variable.
    assert "a.x = NULL" in script
    # A colon inside a literal would read as a variable: escaped.
    assert "a: b" not in script and "note" in script


def test_people_ids_and_new_values_map_consistently_across_the_pair() -> None:
    values = bound(floor_sql.script(captured()))
    assert values["p0_1"] == "sender.user_id"
    assert values["p0_2"] == "recipient.wallet_id"
    assert values["p1_1"] == "(E'user\\x3a' || sender.user_id::text || E'\\x3acreate-transaction')"
    assert values["p1_2"] == "g.key0" and values["p3_3"] == "g.key1"
    # The new transfer's id is one fresh value, the same in the create, its read and the accept.
    new = values["p2_1"]
    assert new.startswith("g.u")
    assert values["p1_4"] == f"ARRAY[sender.wallet_id, recipient.wallet_id, {new}]::uuid[]"
    assert new in values["p1_6"]
    assert values["p3_1"].startswith(f"ARRAY[{new}, g.u") and values["p3_1"] != new
    assert values["p1_8"] == "ARRAY[g.reference, sender.username]::text[]"
    # Times keep their distance from the create's clock.
    assert values["p1_3"] == "(g.t0 + interval '0 microseconds')"
    assert values["p3_2"] == "(g.t0 + interval '1000000 microseconds')"
    assert values["p1_5"] == "ARRAY[7::bigint, -7::bigint]::bigint[]"
    assert values["p1_7"] == "'\\x0102'::bytea"


def test_the_capture_survives_its_file(tmp_path: Path) -> None:
    dump(captured(), tmp_path / "capture.json")
    again = load(tmp_path / "capture.json")
    assert again.statements == captured().statements
    assert again.transaction_id == TRANSFER


def test_the_floor_app_rebinds_ids_amounts_names_and_times() -> None:
    capture = captured()
    strings = {"alice", "bob", capture.reference, *CAPTURE_KEYS}
    create = Template(capture.statements[1], strings, {7, -7})
    accept = Template(capture.statements[3], strings, {7, -7})
    people = {UUID(SENDER["id"]): uuid4(), UUID(SENDER["wallet_id"]): uuid4()}
    people[UUID(RECIPIENT["wallet_id"])] = uuid4()
    uuids = dict(people)
    later = NOW + timedelta(hours=2)
    args = create.bind(
        uuids,
        uuid4,
        later,
        strings={"alice": "carol", CAPTURE_KEYS[0]: "k1"},
        ints={7: 25, -7: -25},
        blob=b"answer",
    )
    sender = people[UUID(SENDER["id"])]
    assert args[0] == f"user:{sender}:create-transaction"
    assert args[1] == "k1"
    assert args[2] == later
    new_transfer = uuids[TRANSFER]
    assert new_transfer not in people.values()
    assert args[3] == [
        people[UUID(SENDER["wallet_id"])],
        people[UUID(RECIPIENT["wallet_id"])],
        new_transfer,
    ]
    assert args[4] == [25, -25]
    assert args[5] == [f'{{"transaction_id":"{new_transfer}","note":"a: b"}}', None]
    assert args[6] == b"answer"
    assert args[7] == ["TRF-ABCDEF1234", "carol"]  # an unmapped string stays
    assert args[8] == 0  # not the amount: untouched
    accepted = accept.bind(uuids, uuid4, later, strings={}, ints={})
    assert accepted[0][0] == new_transfer and accepted[0][1] not in (new_transfer, ENTRY)
    assert accepted[1] == later  # the accept's own clock is ``later``
