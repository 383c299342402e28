"""The expiry job: pending transfers and cash-outs past ``expires_at`` release their holds."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from wallet_core.ledger import Transfer
from wallet_core.ports import UnitOfWork
from wallet_core.services.context import Context
from wallet_core.services.movements import lock_accounts
from wallet_core.services.transfers import expire_transfer


class ExpiryService:
    def __init__(self, ctx: Context, batch_size: int = 100) -> None:
        self._ctx = ctx
        self._batch = batch_size

    async def expire_due(self, on_expired: Callable[[Transfer], object] | None = None) -> int:
        """Expire everything due now, batch by batch; returns how many this call expired.

        Rows another process holds (an accept, a verification, another expiry run) are skipped:
        whoever holds the row decides, and the transfer changes state exactly once.
        ``on_expired`` sees each expired transfer once its batch is committed (metrics).
        """
        total = 0
        while True:
            expired = await self._ctx.storage.run(self._expire_batch)
            if expired:
                if on_expired is not None:
                    for transfer in expired:
                        on_expired(transfer)
                users: set[UUID] = {u for t in expired for u in t.party_user_ids}
                await self._ctx.list_cache.invalidate(users)
            total += len(expired)
            if len(expired) < self._batch:
                return total

    async def _expire_batch(self, uow: UnitOfWork) -> list[Transfer]:
        now = self._ctx.clock.now()
        due = await uow.transfers.lock_due(now, self._batch)
        if not due:
            return []
        locked = await lock_accounts(
            uow, *{a for t in due for a in (t.debit_account_id, t.credit_account_id)}
        )
        return [await expire_transfer(uow, self._ctx, t, now, locked) for t in due]
