"""The audit: recompute every account from its entries and check every ledger invariant,
running balances included."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID

from wallet_core.ledger import Account, Column
from wallet_core.ports import UnitOfWork
from wallet_core.services.context import Context
from wallet_core.statements import RunningBalance, check_running_balances

#: Told ``(phase, count)`` as an audit advances.
Progress = Callable[[str, int], None]


def _silent(phase: str, count: int) -> None:
    """No one is watching."""


@dataclass(frozen=True, slots=True)
class AuditReport:
    accounts: int
    entries_checked: bool
    problems: tuple[str, ...] = field(default_factory=tuple)
    balances: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_accounts(
    accounts: list[Account],
    totals: dict[UUID, dict[Column, int]],
    holds: dict[UUID, tuple[int, int]],
    transaction_counts: dict[UUID, int] | None = None,
) -> list[str]:
    """Every invariant of docs/ledger-model.md that can be read off accounts, entries and pending
    holds, and the per-account transfer counts the transaction lists rely on."""
    problems: list[str] = []
    for account in accounts:
        counted = (transaction_counts or {}).get(account.id, 0)
        if transaction_counts is not None and account.transaction_count != counted:
            problems.append(
                f"account {account.id}: transaction_count is {account.transaction_count}, "
                f"transfers say {counted}"
            )
    per_currency_balance: dict[str, int] = defaultdict(int)
    per_currency_pending: dict[str, int] = defaultdict(int)
    for account in accounts:
        sums = totals.get(account.id, {})
        for column in Column:
            stored, derived = account.total(column), sums.get(column, 0)
            if stored != derived:
                problems.append(
                    f"account {account.id}: {column.value} is {stored}, entries say {derived}"
                )
        held, incoming = holds.get(account.id, (0, 0))
        if (account.debits_pending, account.credits_pending) != (held, incoming):
            problems.append(
                f"account {account.id}: pending totals ({account.debits_pending}, "
                f"{account.credits_pending}) differ from its pending transfers ({held}, {incoming})"
            )
        if account.is_wallet and account.available < 0:
            problems.append(f"wallet {account.id}: available balance {account.available} < 0")
        per_currency_balance[account.currency] += account.balance
        per_currency_pending[account.currency] += account.debits_pending - account.credits_pending
    known = {a.id for a in accounts}
    for account_id in totals:
        if account_id not in known:
            problems.append(f"entries for unknown account {account_id}")
    for currency, total in sorted(per_currency_balance.items()):
        if total != 0:
            problems.append(f"{currency}: balances sum to {total}, not 0")
    for currency, total in sorted(per_currency_pending.items()):
        if total != 0:
            problems.append(f"{currency}: pending debits and credits differ by {total}")
    return problems


class AuditService:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def run(self, progress: Progress | None = None) -> AuditReport:
        """``progress(phase, count)`` is told after each read and when the checks are done (a
        command shows it, so a run over millions of rows visibly moves)."""
        tell = progress or _silent

        async def work(
            uow: UnitOfWork,
        ) -> tuple[
            list[Account],
            dict[UUID, dict[Column, int]],
            dict[UUID, tuple[int, int]],
            dict[UUID, int],
            dict[UUID, RunningBalance],
        ]:
            accounts = await uow.accounts.all_accounts()
            tell("accounts read", len(accounts))
            totals = await uow.entries.totals()
            tell("accounts with entries summed", len(totals))
            holds = await uow.transactions.pending_totals()
            tell("accounts with pending holds", len(holds))
            counts = await uow.transactions.transaction_counts()
            tell("accounts with transfers counted", len(counts))
            running = await uow.entries.running_balances()
            return accounts, totals, holds, counts, running

        accounts, totals, holds, counts, running = await self._ctx.storage.run_read(work)
        problems = check_accounts(accounts, totals, holds, counts)
        problems += check_running_balances(accounts, running)
        tell("accounts checked", len(accounts))
        wallets_total: dict[str, int] = defaultdict(int)
        for account in accounts:
            if account.is_wallet:
                wallets_total[account.currency] += account.balance
        return AuditReport(
            accounts=len(accounts),
            entries_checked=True,
            problems=tuple(problems),
            balances=dict(wallets_total),
        )
