"""Schema fuzzing: schemathesis against the served OpenAPI document.

A real server process (``python -m entrypoints.cli serve``) runs on a PostgreSQL database of its
own (generated users, wallets and transactions never reach the shared test database) and the test
Redis. Schemathesis loads ``/api/schema/openapi.json`` from it and holds every response to that
document with the checks in ``CHECKS``: no 5xx, only documented statuses and media types, bodies
matching their schemas, invalid requests refused and valid ones not, required headers and
credentials really required, ``405``/``OPTIONS`` answers listing the right methods.

- ``test_every_operation_honours_the_document``: per operation, the examples, coverage and
  fuzzing phases (positive and negative data, missing headers, unexpected methods);
- ``test_linked_workflows_honour_the_document``: the stateful phase, along the document's OpenAPI
  links (register -> log in -> refresh, open a wallet -> read it / freeze it, create a
  transaction -> read it / act on it).

Callers: protected operations run as a customer holding money, the staff-only ones (the user list,
freezing wallets) as a staff user. Webhook requests are signed over the exact bytes sent, with the
test secrets, so the webhook handlers are fuzzed and not only their signature check. Dictionaries
of realistic values (an existing recipient, a valid amount or phone number...) are mixed into half
of the generated values of some fields, so requests also get past the business rules.

Deterministic (fixed seed, derandomized Hypothesis, no example database, one worker) and bounded
(``MAX_EXAMPLES`` per operation and phase, ``STATEFUL_MAX_STEPS``).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from schemathesis.engine import events

import environment
from databases import create_database, drop_database
from entrypoints.http.webhooks.signatures import sign
from environment import ATM_SECRET, WEBHOOK_SECRET
from servers import free_port, wait_live

SEED = 20_241_125
MAX_EXAMPLES = 30
STATEFUL_MAX_STEPS = 30
PASSWORD = "correct horse battery staple"
STAFF = {"email": "staff@fuzz.example", "username": "fuzz_staff", "phone_number": "+14155550901"}
CUSTOMER = {
    "email": "customer@fuzz.example",
    "username": "fuzz_customer",
    "phone_number": "+14155550902",
}

#: Every built-in check that applies to this API. ``object_level_authorization`` is left out: it
#: needs two identities per operation within one scenario; tests/e2e/test_idor.py covers it.
CHECKS = (
    "not_a_server_error",  # no 5xx, ever
    "status_code_conformance",  # only documented statuses
    "content_type_conformance",  # the documented media type (problem+json for errors)
    "response_headers_conformance",
    "response_schema_conformance",  # bodies match the documented schemas
    "negative_data_rejection",  # schema-invalid requests are refused
    "positive_data_acceptance",  # schema-valid requests are not refused (see ACCEPTED)
    "missing_required_header",  # Authorization and Idempotency-Key really are required
    "unsupported_method",  # 405 with Allow for undocumented methods
    "allow_header_conformance",  # OPTIONS lists exactly the documented methods
    "ignored_auth",  # protected operations refuse missing and bad tokens
    "use_after_free",
    "ensure_resource_availability",  # what a POST created can be read back
)

#: docs/api.md: a well-formed request that breaks a business rule is a 422 (weak password,
#: unsupported currency, insufficient funds, a reused Idempotency-Key...); no schema can state
#: those rules.
ACCEPTED = ["2xx", "401", "403", "404", "409", "422", "429"]
#: docs/api.md: a refused request is a 400, 401, 403, 404, 409, 413 (body too large) or 422.
REJECTED = ["400", "401", "403", "404", "405", "409", "413", "422", "429"]

#: Operations with inputs that are valid by the schema and still refused as malformed (400
#: ``validation_error``), because no schema can say which values the server made: an opaque
#: pagination cursor (and ``page`` with ``cursor``) on the lists; the right current password on
#: a password change; type and status names, URLs and ids the events and webhooks routes check;
#: metadata keys of ``[A-Za-z0-9_.-]`` (the document cannot state a pattern for an object's keys);
#: instants that must not be in the future and intervals that must not run backwards
#: (statements). Everything else the server checks is stated in the document.
FORMATS_BEYOND_SCHEMA = (
    "listUsers",
    "listWallets",
    "listTransactions",
    "updateMe",
    "listEvents",  # type names, a transaction id
    "createWebhookEndpoint",  # a URL, event type names
    "updateWebhookEndpoint",
    "listWebhookDeliveries",  # status names
    "createTransaction",
    "listWalletEntries",
    "getWalletBalanceAt",
    "getWalletStatement",
)
#: A Server-Sent Events stream never ends on its own: not something to fuzz (the e2e tests run a
#: real client against it).
NOT_FUZZED = ("streamEvents",)
STAFF_ONLY = ("listUsers", "updateWallet", "reverseTransaction")
WEBHOOK_SECRETS = {
    "/api/v1/wallet/webhook/paysend": WEBHOOK_SECRET,
    "/api/v1/wallet/webhook/cashout": ATM_SECRET,
}


@dataclass(frozen=True)
class Server:
    base_url: str
    staff_token: str
    customer_token: str
    customer_refresh_token: str
    customer_wallet_id: str


# How schemathesis is configured -------------------------------------------------------------------


def dictionaries(server: Server) -> dict[str, dict[str, list[str]]]:
    """Realistic values, mixed into generated ones (``bindings``)."""
    fresh = range(1, 7)
    return {
        "amounts": {"values": ["0.01", "1.00", "12.50"]},
        "currencies": {"values": ["USD", "EUR", "GBP", "LBP"]},
        "recipients": {"values": [STAFF["username"], STAFF["phone_number"]]},
        "customer_wallet": {"values": [server.customer_wallet_id]},
        "customer_phone": {"values": [CUSTOMER["phone_number"]]},
        "customer_email": {"values": [CUSTOMER["email"]]},
        "customer_refresh_token": {"values": [server.customer_refresh_token]},
        "password": {"values": [PASSWORD]},
        "completed": {"values": ["COMPLETED"]},
        "new_emails": {"values": [f"new{n}@fuzz.example" for n in fresh]},
        "new_usernames": {"values": [f"new_user_{n}" for n in fresh]},
        "new_phones": {"values": [f"+1415555100{n}" for n in fresh]},
    }


def bindings(**fields: str) -> dict[str, dict[str, Any]]:
    return {
        f"body.{field}": {"dictionary": name, "probability": 0.5} for field, name in fields.items()
    }


def fuzz_config(server: Server, phases: tuple[str, ...]) -> schemathesis.Config:
    checks: dict[str, Any] = {"enabled": False, **{name: {"enabled": True} for name in CHECKS}}
    checks["positive_data_acceptance"]["expected-statuses"] = ACCEPTED
    checks["negative_data_rejection"]["expected-statuses"] = REJECTED
    per_operation: dict[str, dict[str, Any]] = {
        "register": {
            "parameters": bindings(
                email="new_emails",
                username="new_usernames",
                phone_number="new_phones",
                password="password",
                currency="currencies",
            )
        },
        "logIn": {"parameters": bindings(email="customer_email", password="password")},
        "refreshToken": {"parameters": bindings(refresh_token="customer_refresh_token")},
        "logOut": {"parameters": bindings(refresh_token="customer_refresh_token")},
        "openWallet": {"parameters": bindings(currency="currencies")},
        "createTransaction": {
            "parameters": bindings(
                amount="amounts", recipient="recipients", wallet_id="customer_wallet"
            )
        },
        "paysendWebhook": {
            "parameters": bindings(
                status="completed",
                **{
                    "recipient.phone_number": "customer_phone",
                    "recipient.amount": "amounts",
                    "recipient.currency": "currencies",
                },
            )
        },
        "cashoutWebhook": {"parameters": bindings(phone_number="customer_phone")},
    }
    for operation_id in STAFF_ONLY:
        per_operation.setdefault(operation_id, {})["headers"] = {
            "Authorization": f"Bearer {server.staff_token}"
        }
    for operation_id in FORMATS_BEYOND_SCHEMA:
        per_operation.setdefault(operation_id, {})["checks"] = {
            "positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}
        }
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "workers": 1,
            "cache": {"enabled": False},
            "suppress-health-check": ["all"],
            "request-timeout": 10,
            "phases": {
                "examples": {"enabled": "examples" in phases},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": STATEFUL_MAX_STEPS},
            },
            "generation": {
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
            },
            "checks": checks,
            "dictionaries": dictionaries(server),
            "headers": {"Authorization": f"Bearer {server.customer_token}"},
            "operations": [
                *(
                    {"include-operation-id": operation_id, **settings}
                    for operation_id, settings in per_operation.items()
                ),
                *({"include-operation-id": o, "enabled": False} for o in NOT_FUZZED),
            ],
        }
    )


class WebhookSignature(requests.auth.AuthBase):
    """Signs the prepared request, i.e. the exact bytes sent, as the provider would."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        request.headers.update(sign(body.encode() if isinstance(body, str) else body, self.secret))
        return request


def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    """Schemathesis hook: webhook requests go out signed."""
    secret = WEBHOOK_SECRETS.get(case.operation.path)
    if secret is not None:
        kwargs["auth"] = WebhookSignature(secret)


def run_schemathesis(server: Server, phases: tuple[str, ...]) -> list[str]:
    """Run the given phases against the served document; return every problem found.

    This is schemathesis's own runner (what ``schemathesis run`` drives) in this process. Its
    pytest loader for schemas made by a fixture cannot be used: it writes ``node._nodeid``, which
    pytest 9 no longer has, and the schema only exists once the server runs.
    """
    schema = schemathesis.openapi.from_url(
        f"{server.base_url}/api/schema/openapi.json", config=fuzz_config(server, phases)
    )
    problems: dict[tuple[str, ...], str] = {}
    answered: dict[str, set[int]] = {}

    def report(failure: Any, code_sample: str = "") -> None:
        key = (failure.code, failure.operation or "", failure.title)
        problems.setdefault(
            key,
            f"{failure.code} {failure.title} [{failure.operation}]\n"
            f"{failure.message}\n{code_sample}",
        )

    schemathesis.hook(before_call)
    try:
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                recorder = event.recorder
                for case_id, interaction in recorder.interactions.items():
                    case = recorder.cases.get(case_id)
                    if interaction.response is not None and case is not None:
                        label = case.value.operation.label
                        answered.setdefault(label, set()).add(interaction.response.status_code)
                for checks in recorder.checks.values():
                    for check in checks:
                        if check.failure_info is not None:
                            report(check.failure_info.failure, check.failure_info.code_sample)
            elif isinstance(event, events.EngineFinished):
                for failure in event.failures:
                    report(failure)
            elif isinstance(event, events.NonFatalError):
                problems.setdefault(("error", event.label), f"error in {event.label}: {event.info}")
            elif isinstance(event, events.FatalError):
                problems[("fatal",)] = f"schemathesis failed: {event.exception!r}"
    finally:
        schemathesis.hooks.unregister(before_call)
    assert answered, "schemathesis sent no request"
    # An operation that only ever answered 401/403 tested the credentials, not the operation.
    for label, statuses in sorted(answered.items()):
        if statuses <= {401, 403}:
            problems[("auth", label)] = f"{label} only answered {sorted(statuses)}"
    return list(problems.values())


# The server ---------------------------------------------------------------------------------------


async def _create_staff(env: dict[str, str]) -> None:
    """Like an operator would: ``wallet create-admin``."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "entrypoints.cli", "create-admin", "--password", PASSWORD),
        *("--email", STAFF["email"], "--username", STAFF["username"]),
        *("--phone", STAFF["phone_number"]),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode == 0, output.decode()


async def _log_in(http: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def _people(base: str, env: dict[str, str]) -> Server:
    """A staff user, and a customer with a million dollars to move."""
    await _create_staff(env)
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        staff = (await _log_in(http, STAFF["email"]))["access_token"]
        registered = await http.post(
            "/api/v1/auth/register", json={**CUSTOMER, "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        wallet_id = registered.json()["wallet"]["id"]
        funded = await http.post(
            "/api/v1/wallet/transactions",
            json={
                "type": "deposit",
                "amount": "1000000.00",
                "wallet_id": wallet_id,
                "funding_source": "manual",
                "description": "fuzzing money",
            },
            headers={"Authorization": f"Bearer {staff}", "Idempotency-Key": "fuzz-funding"},
        )
        assert funded.status_code == 201, funded.text
        customer = await _log_in(http, CUSTOMER["email"])
    return Server(
        base_url=base,
        staff_token=staff,
        customer_token=customer["access_token"],
        customer_refresh_token=customer["refresh_token"],
        customer_wallet_id=wallet_id,
    )


@pytest.fixture(scope="module")
async def server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    database_url = await create_database("wallet_fuzz")
    workdir = tmp_path_factory.mktemp("fuzz")
    env = {
        **os.environ,
        **environment.app_environment(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            # Generated webhook URLs are not looked up in DNS (no traffic beyond this machine);
            # with Redis set, this server sends no deliveries (that is the worker's job).
            WEBHOOK_ALLOW_PRIVATE_TARGETS="true",
        ),
    }
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)),
            cwd=workdir,  # no stray .env
            env=env,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        await wait_live(base, process, log)
        yield await _people(base, env)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        # Shown when a test failed: what the server logged (a 5xx logs its traceback).
        print(log.read_text()[-5000:])
        await drop_database(database_url)


# The tests ----------------------------------------------------------------------------------------


def test_every_operation_honours_the_document(server: Server) -> None:
    problems = run_schemathesis(server, ("examples", "coverage", "fuzzing"))
    assert not problems, "\n\n".join(problems)


def test_linked_workflows_honour_the_document(server: Server) -> None:
    problems = run_schemathesis(server, ("stateful",))
    assert not problems, "\n\n".join(problems)
