"""``/wallet/{id}/entries|balance|statement``: a wallet's posted lines with running balances, its
balance at an instant, and its statement for an interval (JSON summary, or CSV streamed line by
line)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.openapi import also_as_csv
from entrypoints.http.pagination import links
from entrypoints.http.params import instant
from entrypoints.http.presenters import balance_body, entry_body, statement_body
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import BalanceResponse, EntryPage, StatementResponse
from wallet_core.errors import FieldError, ValidationFailed
from wallet_core.money import Currencies, format_minor
from wallet_core.services.statements import EntryListParams, Export

CSV_HEADER = (
    "posted_at",
    "transaction_id",
    "reference",
    "type",
    "description",
    "amount",
    "balance_after",
    "currency",
)
#: Lines written per chunk sent: few enough that memory stays flat, enough to keep writes cheap.
ROWS_PER_CHUNK = 200


def rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def csv_chunks(export: Export, currencies: Currencies) -> AsyncIterator[bytes]:
    """The export as RFC 4180 CSV (CRLF line ends, fields quoted when they need it)."""
    unit = currencies.get(export.wallet.currency)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    rows = 1
    async for line in export.lines:
        writer.writerow(
            (
                rfc3339(line.posted_at),
                str(line.transaction_id),
                line.reference,
                line.type.value,
                line.description,
                format_minor(line.amount, unit),
                format_minor(line.balance_after, unit),
                line.currency,
            )
        )
        rows += 1
        if rows >= ROWS_PER_CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            rows = 0
    if buffer.tell():
        yield buffer.getvalue().encode()


def _wants_csv(request: Request[Any, Any, Any], format_: str | None) -> bool:
    if format_ is not None:
        chosen = format_.strip().lower()
        if chosen not in ("json", "csv"):
            raise ValidationFailed(
                "format must be json or csv.", [FieldError("format", "one of json, csv")]
            )
        return chosen == "csv"
    accept = request.headers.get("accept", "")
    return any(part.split(";")[0].strip().lower() == "text/csv" for part in accept.split(","))


class StatementsController(Controller):
    path = "/wallet/{wallet_id:uuid}"
    tags = ["statements"]

    @get(
        "/entries",
        summary="A wallet's posted lines with running balances (owner or staff)",
        description="Posted money only (holds change `available_balance`, not the statement). "
        "`amount` is signed; `balance_after` is the wallet's posted balance right after the "
        "line. Filters `posted_after` (inclusive), `posted_before` (exclusive); `ordering` "
        "`posted_at` or `-posted_at` (default). Page numbers or keyset cursors.",
        operation_id="listWalletEntries",
        responses={
            200: ResponseSpec(
                data_container=EntryPage, description="A page of lines", generate_examples=False
            ),
            **responses_for(400, 401, 404, 429),
        },
    )
    async def list_entries(
        self,
        request: Request[Any, Any, Any],
        wallet_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
        posted_after: FromQuery[str | None] = None,
        posted_before: FromQuery[str | None] = None,
        ordering: FromQuery[str | None] = None,
        page: FromQuery[int | None] = None,
        page_size: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> EntryPage:
        params = EntryListParams(
            posted_after=instant("posted_after", posted_after),
            posted_before=instant("posted_before", posted_before),
            ordering=ordering,
            page=page,
            page_size=page_size,
            cursor=cursor,
        )
        result = await container.core.statements.entries(actor, wallet_id, params)
        currencies = container.core.ctx.currencies
        return EntryPage(
            count=result.count,
            results=[entry_body(line, currencies) for line in result.items],
            **links(request, result),
        )

    @get(
        "/balance",
        summary="A wallet's posted balance at an instant (owner or staff)",
        description="`at` (RFC 3339) defaults to now; before the wallet existed the balance is "
        '`"0.00"`; a future `at` is 400. The balance after the last line posted at or before '
        "`at`.",
        operation_id="getWalletBalanceAt",
        responses=responses_for(400, 401, 404, 429),
    )
    async def balance_at(
        self,
        wallet_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
        at: FromQuery[str | None] = None,
    ) -> BalanceResponse:
        found = await container.core.statements.balance(actor, wallet_id, instant("at", at))
        return balance_body(found, container.core.ctx.currencies)

    @get(
        "/statement",
        summary="A wallet's statement for [from, to): summary, or CSV lines (owner or staff)",
        description="JSON: opening and closing balance, total credits and debits and the line "
        "count of the half-open interval; `closing_balance = opening_balance + total_credits - "
        "total_debits`. With `Accept: text/csv` or `format=csv`: the interval's lines, oldest "
        "first, as RFC 4180 CSV, streamed. `from`/`to` default to the wallet's creation and now.",
        operation_id="getWalletStatement",
        responses={
            200: ResponseSpec(
                data_container=StatementResponse,
                description="The statement (or, as text/csv, its lines)",
                generate_examples=False,
            ),
            **responses_for(400, 401, 404, 429),
        },
        operation_class=also_as_csv(
            200,
            "The interval's lines as RFC 4180 CSV (header posted_at, transaction_id, reference, "
            "type, description, amount, balance_after, currency).",
        ),
    )
    async def statement(
        self,
        request: Request[Any, Any, Any],
        wallet_id: FromPath[UUID],
        actor: ActorDep,
        container: ContainerDep,
        from_: Annotated[str | None, QueryParameter(name="from")] = None,
        to: FromQuery[str | None] = None,
        format_: Annotated[str | None, QueryParameter(name="format")] = None,
    ) -> Response[Any]:
        core = container.core
        start, end = instant("from", from_), instant("to", to)
        if _wants_csv(request, format_):
            export = await core.statements.export(actor, wallet_id, start, end)
            name = f"statement-{export.wallet.id}.csv"
            return Stream(
                csv_chunks(export, core.ctx.currencies),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        found = await core.statements.statement(actor, wallet_id, start, end)
        return Response(statement_body(found, core.ctx.currencies))
