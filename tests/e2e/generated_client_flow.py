"""A first transfer, driven through a client generated from the served OpenAPI document.

``wallet_client`` does not exist in the repository: tests/e2e/test_generated_client.py generates
it with openapi-python-client into a temporary directory, imports this module with that
directory on the path, runs :func:`first_transfer`, and type-checks this module against the
generated package with ``mypy --strict``. So every name and type used here (the discriminated
201 of a created transaction, the enums, the typed list) is what the document promises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from wallet_client import AuthenticatedClient, Client
from wallet_client.api.auth import log_in, register
from wallet_client.api.transactions import (
    act_on_transaction,
    create_transaction,
    list_transactions,
)
from wallet_client.models import (
    Currency,
    DepositCreate,
    DepositCreated,
    EmailLogin,
    FundingSource,
    Problem,
    RegisterRequest,
    RegisterResponse,
    TokenPairResponse,
    TransactionAction,
    TransactionActionAction,
    TransactionPage,
    TransactionResponse,
    TransactionStatus,
    TransactionType,
    TransferCreate,
    TransferCreated,
    UsernameLogin,
)

T = TypeVar("T")
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Outcome:
    sent: TransferCreated
    accepted: TransactionResponse
    page: TransactionPage
    models: list[Any]


def expect(value: object, kind: type[T]) -> T:
    """The typed body of a success, or a failure naming the problem."""
    if isinstance(value, Problem):
        raise AssertionError(f"{value.status} {value.code}: {value.detail}")
    assert isinstance(value, kind), value
    return value


async def first_transfer(
    base_url: str, transport: httpx.AsyncBaseTransport, staff_token: str, tag: str
) -> Outcome:
    """Register two people -> log in -> fund one (staff) -> transfer -> accept -> list."""
    anonymous = Client(base_url=base_url, httpx_args={"transport": transport})

    def authed(tokens: TokenPairResponse | str) -> AuthenticatedClient:
        token = tokens if isinstance(tokens, str) else tokens.access_token
        return AuthenticatedClient(
            base_url=base_url, token=token, httpx_args={"transport": transport}
        )

    people: list[RegisterResponse] = []
    for name, phone in ((f"ann_{tag}", "+1415555" + tag[:4]), (f"ben_{tag}", "+1415556" + tag[:4])):
        body = RegisterRequest(
            email=f"{name}@example.com",
            username=name,
            password=PASSWORD,
            phone_number=phone,
            currency=Currency.USD,
        )
        people.append(expect(await register.asyncio(client=anonymous, body=body), RegisterResponse))
    ann, ben = people
    ann_tokens = expect(
        await log_in.asyncio(
            client=anonymous, body=EmailLogin(email=ann.user.email, password=PASSWORD)
        ),
        TokenPairResponse,
    )
    ben_tokens = expect(
        await log_in.asyncio(
            client=anonymous, body=UsernameLogin(username=ben.user.username, password=PASSWORD)
        ),
        TokenPairResponse,
    )

    deposit = expect(
        await create_transaction.asyncio(
            client=authed(staff_token),
            body=DepositCreate(
                type_="deposit",
                amount="100.00",
                wallet_id=ann.wallet.id,
                funding_source="manual",
                description="first money",
            ),
            idempotency_key=f"deposit-{tag}",
        ),
        DepositCreated,
    )
    sent = expect(
        await create_transaction.asyncio(
            client=authed(ann_tokens),
            body=TransferCreate(
                type_="transfer", amount="25.50", recipient=ben.user.username, description="lunch"
            ),
            idempotency_key=f"transfer-{tag}",
        ),
        TransferCreated,
    )
    assert sent.status is TransactionStatus.PENDING
    assert sent.funding_source is FundingSource.INTERNAL
    accepted = expect(
        await act_on_transaction.asyncio(
            transaction_id=sent.id,
            client=authed(ben_tokens),
            body=TransactionAction(action=TransactionActionAction.ACCEPT),
            idempotency_key=f"accept-{tag}",
        ),
        TransactionResponse,
    )
    assert accepted.status is TransactionStatus.COMPLETED
    page = expect(
        await list_transactions.asyncio(
            client=authed(ann_tokens), type_=[TransactionType.TRANSFER], page_size=10
        ),
        TransactionPage,
    )
    return Outcome(sent, accepted, page, [ann, ben, ann_tokens, deposit, sent, accepted, page])
