"""The query parameters every list shares, with the bounds the server enforces stated in the
OpenAPI document (a schema-valid value is one the server takes)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

from litestar.openapi.spec import Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import QueryParameter

from entrypoints.http.schema_marks import CONFIGURED
from wallet_core.ledger import FundingSource, TransactionStatus, TransactionType
from wallet_core.queries import (
    MAX_PAGE,
    MAX_PAGE_SIZE,
    TRANSACTION_ORDERINGS,
    USER_ORDERINGS,
    WALLET_ORDERINGS,
)

PageNumber = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_PAGE, description="1-based page number (not with `cursor`)."),
]
PageSize = Annotated[
    int | None,
    QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Rows per page, 1-{MAX_PAGE_SIZE}."),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        min_length=1,
        description="Keyset pagination: the `next_cursor` of the previous page, as given.",
    ),
]
CurrencyFilter = Annotated[
    Annotated[str, CONFIGURED] | None, QueryParameter(min_length=3, max_length=3)
]


def ordering(allowed: Mapping[str, str]) -> Any:
    """``ordering``: comma-separated names of ``allowed``, each optionally ``-`` (descending)."""
    names = "|".join(sorted(allowed, key=lambda n: (-len(n), n)))
    one = rf"[ \t]*[-+]*(?:{names})[ \t]*"
    return Annotated[
        str | None,
        QueryParameter(
            min_length=1,
            pattern=rf"^{one}(?:,{one})*$",
            description=f"Comma-separated: {', '.join(sorted(allowed))}; `-` for descending.",
        ),
    ]


def choices(enum: type[StrEnum], description: str, name: str | None = None) -> Any:
    """A repeatable filter whose values are ``enum``'s (comma-separated values work too)."""
    return Annotated[
        list[str] | None,
        QueryParameter(
            name=name,
            description=description,
            schema_extra={
                "one_of": [
                    Schema(
                        type=OpenAPIType.ARRAY,
                        items=Reference(f"#/components/schemas/{enum.__name__}"),
                    ),
                    Schema(type=OpenAPIType.NULL),
                ]
            },
        ),
    ]


Direction = Annotated[
    str | None,
    QueryParameter(
        description="Relative to the caller: `in` (received) or `out` (sent).",
        schema_extra={
            "one_of": [
                Schema(type=OpenAPIType.STRING, enum=["in", "out"]),
                Schema(type=OpenAPIType.NULL),
            ]
        },
    ),
]

TransactionOrdering = ordering(TRANSACTION_ORDERINGS)
WalletOrdering = ordering(WALLET_ORDERINGS)
UserOrdering = ordering(USER_ORDERINGS)
_TYPES = "Transaction types; repeat the parameter (or separate by commas)."
Types = choices(TransactionType, _TYPES, name="type")
TransactionTypes = choices(TransactionType, _TYPES)
Statuses = choices(TransactionStatus, "Statuses; repeat the parameter (or separate by commas).")
FundingSources = choices(FundingSource, "Funding sources; repeat the parameter (or commas).")
