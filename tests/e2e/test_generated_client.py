"""A real client generated from the served OpenAPI document (openapi-python-client) runs the
first-transfer journey, typed: the document is precise enough that a generated client hands a
transfer back as a transfer, with every field the server set filled in (no ``Unset``).

The flow itself is tests/e2e/generated_client_flow.py, also type-checked here with
``mypy --strict`` against the generated package.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs
import httpx
import pytest

from support import Api

FLOW = Path(__file__).with_name("generated_client_flow.py")
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


@pytest.fixture(scope="module")
async def generated(client: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package ``wallet_client``, generated from what the app serves."""
    root = tmp_path_factory.mktemp("generated")
    document = await client.get("/api/schema/openapi.json")
    assert document.status_code == 200
    source = root / "openapi.json"
    source.write_text(json.dumps(document.json()))
    process = await asyncio.create_subprocess_exec(
        *(str(GENERATOR), "generate", "--path", str(source), "--meta", "none"),
        *("--output-path", str(root / "wallet_client")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, output.decode()
    # The generator warns about what it could not model; a precise document gives it nothing.
    assert "Warning" not in output.decode(), output.decode()
    return root


@pytest.fixture
def flow(generated: Path) -> Iterator[ModuleType]:
    sys.path.insert(0, str(generated))
    sys.path.insert(0, str(FLOW.parent))
    try:
        yield importlib.import_module("generated_client_flow")
    finally:
        sys.path.remove(str(generated))
        sys.path.remove(str(FLOW.parent))
        for name in [n for n in sys.modules if n.startswith(("wallet_client", "generated_"))]:
            del sys.modules[name]


def _unset_fields(model: Any, path: str = "") -> list[str]:
    """Fields of generated models (recursively) that were left ``Unset``."""
    from wallet_client.types import Unset

    found: list[str] = []
    if isinstance(model, list):
        for index, item in enumerate(model):
            found += _unset_fields(item, f"{path}[{index}]")
    elif attrs.has(type(model)):
        for field in attrs.fields(type(model)):
            value = getattr(model, field.name)
            if isinstance(value, Unset):
                found.append(f"{path}.{field.name}")
            else:
                found += _unset_fields(value, f"{path}.{field.name}")
    return found


async def test_a_generated_client_sends_and_accepts_a_transfer(
    flow: ModuleType, api: Api, client: httpx.AsyncClient
) -> None:
    staff = await api.staff()
    transport = client._transport  # the in-process app the other tests use
    tag = f"{uuid.uuid4().int % 10**8:08d}"
    outcome = await flow.first_transfer("http://testserver", transport, staff.access_token, tag)

    from wallet_client.models import TransactionResponse, TransactionType, TransferCreated

    assert type(outcome.sent) is TransferCreated
    assert outcome.sent.type_ == "transfer"
    assert outcome.accepted.completed_at is not None
    (listed,) = outcome.page.results
    assert isinstance(listed, TransactionResponse)
    assert (listed.id, listed.type_, listed.amount) == (
        outcome.sent.id,
        TransactionType.TRANSFER,
        "25.50",
    )
    assert _unset_fields(outcome.models) == []


async def test_the_flow_type_checks_against_the_generated_client(generated: Path) -> None:
    # A subprocess the event loop waits on: blocking the loop for mypy's minute would starve the
    # session's Redis connections and hang its teardown.
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "mypy", "--strict", "--no-incremental"),
        # The generated package is used for its types; its own code is not ours to check.
        *("--follow-imports", "silent", str(FLOW)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "MYPYPATH": str(generated)},
        cwd=generated,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode == 0, output.decode()
