"""Cash-out at an ATM: a hold plus a one-time code; the ATM network's webhook verifies the code."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from uuid import UUID

from wallet_core.errors import (
    DomainError,
    Expired,
    InvalidWithdrawalCode,
    NotFound,
    NotPending,
    TooManyAttempts,
)
from wallet_core.ledger import (
    FundingSource,
    Party,
    Transfer,
    TransferStatus,
    TransferType,
    open_pending,
    post_pending,
    void_pending,
)
from wallet_core.money import Money
from wallet_core.notifications import NotificationKind
from wallet_core.ports import SecretHasher, UnitOfWork
from wallet_core.services.context import Actor, Context
from wallet_core.services.idempotency import OutcomeRecorder
from wallet_core.services.movements import (
    ensure_funds,
    lock_accounts,
    new_reference,
    notification,
    record,
    require_active,
)
from wallet_core.services.transfers import check_description, expire_transfer
from wallet_core.users import normalize_phone

#: Unambiguous characters: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True, slots=True)
class CashOut:
    """A requested cash-out and its one-time code (the only time the code exists in clear)."""

    transfer: Transfer
    withdrawal_code: str


def normalize_code(code: str) -> str:
    return code.strip().upper().replace("-", "").replace(" ", "")


class CashOutService:
    def __init__(self, ctx: Context, secrets_hasher: SecretHasher) -> None:
        self._ctx = ctx
        self._hasher = secrets_hasher

    async def request(
        self,
        actor: Actor,
        *,
        amount: str,
        wallet_id: UUID | None = None,
        description: str | None = None,
        recorder: OutcomeRecorder[CashOut] | None = None,
    ) -> CashOut:
        ctx = self._ctx
        text = check_description(description)
        length = ctx.policy.withdrawal_code_length
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))
        digest = self._hasher.digest(code)

        async def work(uow: UnitOfWork) -> CashOut:
            if wallet_id is not None:
                wallet = await uow.accounts.get(wallet_id)
                if wallet is None or wallet.owner_id != actor.user_id:
                    raise NotFound("Wallet not found.")
            else:
                wallets = await uow.accounts.wallets_of(actor.user_id)
                if not wallets:
                    raise NotFound("You have no wallet.")
                wallet = wallets[0]
            money = Money.parse(amount, ctx.currencies.get(wallet.currency))
            now = ctx.clock.now()
            sink = await uow.accounts.system_account(FundingSource.BLF_ATM, wallet.currency)
            locked = await lock_accounts(uow, wallet.id, sink.id)
            wallet, sink = locked[wallet.id], locked[sink.id]
            require_active(wallet)
            ensure_funds(wallet, money)
            movement = open_pending(wallet, sink, money.minor, now)
            assert wallet.owner_id is not None and wallet.owner_username is not None
            transfer = Transfer(
                id=ctx.ids.new_id(),
                type=TransferType.WITHDRAWAL,
                status=TransferStatus.PENDING,
                amount=money.minor,
                currency=wallet.currency,
                funding_source=FundingSource.BLF_ATM,
                debit_account_id=wallet.id,
                credit_account_id=sink.id,
                reference=new_reference(TransferType.WITHDRAWAL),
                created_at=now,
                updated_at=now,
                sender=Party(wallet.owner_id, wallet.owner_username, wallet.id),
                description=text,
                expires_at=now + ctx.policy.cashout_expiry,
                code_digest=digest,
            )
            await uow.transfers.add(transfer)
            await record(uow, ctx, transfer, movement, now)
            await uow.outbox.add_many(
                [
                    notification(
                        ctx,
                        NotificationKind.CASHOUT_REQUESTED,
                        wallet.owner_id,
                        transfer,
                        now,
                        {"withdrawal_code": code},
                    )
                ]
            )
            result = CashOut(transfer, code)
            if recorder is not None:
                await recorder(uow, result)
            return result

        cashout = await ctx.storage.run(work)
        await ctx.list_cache.invalidate(cashout.transfer.party_user_ids)
        return cashout

    async def verify(
        self,
        phone_number: str,
        code: str,
        recorder: OutcomeRecorder[Transfer] | None = None,
    ) -> Transfer:
        """The ATM network confirms a code: post the held amount, or count a failed attempt.

        A wrong code counts against every pending cash-out of that phone's owner; at the limit
        they are cancelled and their holds released.
        """
        ctx = self._ctx
        digest = self._hasher.digest(normalize_code(code))
        try:
            phone = normalize_phone(phone_number)
        except DomainError:
            phone = None

        async def work(uow: UnitOfWork) -> tuple[Transfer | None, DomainError | None, set[UUID]]:
            now = ctx.clock.now()
            user = await uow.users.find_by_phone(phone) if phone else None
            if user is None:
                raise InvalidWithdrawalCode()
            wallet_ids = [w.id for w in await uow.accounts.wallets_of(user.id)]
            matches = await uow.transfers.withdrawals_of(
                wallet_ids, code_digest=digest, pending_only=False
            )
            if matches:
                transfer = matches[0]
                if transfer.status is TransferStatus.PENDING and transfer.is_due(now):
                    expired = await expire_transfer(uow, ctx, transfer, now)
                    return expired, Expired("This cash-out has expired."), {user.id}
                if transfer.status is TransferStatus.EXPIRED:
                    return None, Expired("This cash-out has expired."), set()
                if transfer.status is not TransferStatus.PENDING:
                    return None, NotPending(f"This cash-out is {transfer.status.value}."), set()
                locked = await lock_accounts(
                    uow, transfer.debit_account_id, transfer.credit_account_id
                )
                require_active(locked[transfer.debit_account_id])
                movement = post_pending(
                    locked[transfer.debit_account_id],
                    locked[transfer.credit_account_id],
                    transfer.amount,
                    now,
                )
                done = transfer.finish(TransferStatus.COMPLETED, now)
                await uow.transfers.update(done)
                await record(uow, ctx, done, movement, now)
                await uow.outbox.add_many(
                    [notification(ctx, NotificationKind.CASHOUT_COMPLETED, user.id, done, now)]
                )
                if recorder is not None:
                    await recorder(uow, done)
                return done, None, {user.id}
            # Wrong guesses count against live cash-outs; lapsed ones are the expiry job's.
            pending = [
                t
                for t in await uow.transfers.withdrawals_of(wallet_ids, pending_only=True)
                if not t.is_due(now)
            ]
            limit = ctx.policy.max_code_attempts
            doomed = [t for t in pending if t.failed_attempts + 1 >= limit]
            locked = await lock_accounts(
                uow, *{a for t in doomed for a in (t.debit_account_id, t.credit_account_id)}
            )
            cancelled = False
            for transfer in pending:
                counted = transfer.with_failed_attempt(now)
                if counted.failed_attempts < limit:
                    await uow.transfers.update(counted)
                    continue
                movement = void_pending(
                    locked[transfer.debit_account_id],
                    locked[transfer.credit_account_id],
                    transfer.amount,
                    now,
                )
                done = counted.finish(TransferStatus.CANCELLED, now)
                await uow.transfers.update(done)
                await record(uow, ctx, done, movement, now, locked)
                await uow.outbox.add_many(
                    [notification(ctx, NotificationKind.CASHOUT_CANCELLED, user.id, done, now)]
                )
                cancelled = True
            if cancelled:
                return None, TooManyAttempts(), {user.id}
            return None, InvalidWithdrawalCode(), set()

        transfer, error, touched = await ctx.storage.run(work)
        if touched:
            await ctx.list_cache.invalidate(touched)
        if error is not None:
            raise error
        assert transfer is not None
        return transfer
