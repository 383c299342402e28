"""The assembled core: every use case wired to one set of ports."""

from __future__ import annotations

from dataclasses import dataclass

from wallet_core.list_cache import TransactionListCache
from wallet_core.money import Currencies
from wallet_core.ports import (
    Cache,
    Clock,
    IdGenerator,
    Ledger,
    MessageRenderer,
    MovementCounter,
    Notifier,
    PasswordHasher,
    SecretBox,
    SecretHasher,
    SessionFeed,
    Storage,
    TokenIssuer,
    WebhookSender,
)
from wallet_core.services.audit import AuditService
from wallet_core.services.auth import AuthService
from wallet_core.services.cashouts import CashOutService
from wallet_core.services.context import Context, Policy, Uncounted
from wallet_core.services.deposits import DepositService
from wallet_core.services.events import EventService
from wallet_core.services.expiry import ExpiryService
from wallet_core.services.idempotency import IdempotencyService
from wallet_core.services.notifications import NotificationService
from wallet_core.services.reversals import ReversalService
from wallet_core.services.sessions import SessionService
from wallet_core.services.statements import StatementService
from wallet_core.services.transactions import TransactionService
from wallet_core.services.transfers import TransferService
from wallet_core.services.users import UserService
from wallet_core.services.wallets import WalletService
from wallet_core.services.webhook_delivery import WebhookDeliveryService
from wallet_core.services.webhooks import WebhookEndpointService
from wallet_core.sessions import SessionMarks
from wallet_core.uow_ledger import UnitOfWorkLedger
from wallet_core.webhooks import NoSender, RetryPolicy


@dataclass(frozen=True, slots=True)
class WalletCore:
    ctx: Context
    auth: AuthService
    users: UserService
    sessions: SessionService
    wallets: WalletService
    transfers: TransferService
    transactions: TransactionService
    cashouts: CashOutService
    deposits: DepositService
    expiry: ExpiryService
    audit: AuditService
    idempotency: IdempotencyService
    notifications: NotificationService
    events: EventService
    webhooks: WebhookEndpointService
    webhook_delivery: WebhookDeliveryService
    statements: StatementService
    reversals: ReversalService


def build_core(
    *,
    storage: Storage,
    cache: Cache,
    clock: Clock,
    ids: IdGenerator,
    password_hasher: PasswordHasher,
    tokens: TokenIssuer,
    secret_hasher: SecretHasher,
    renderer: MessageRenderer,
    notifier: Notifier,
    secret_box: SecretBox,
    ledger: Ledger | None = None,
    counter: MovementCounter | None = None,
    session_feed: SessionFeed,
    currencies: Currencies | None = None,
    policy: Policy | None = None,
    cache_ttl_seconds: int = 900,
    webhook_sender: WebhookSender | None = None,
    webhook_retry: RetryPolicy | None = None,
    webhook_https_only: bool = False,
) -> WalletCore:
    """Every use case on one set of ports. ``ledger`` defaults to the money path on ``storage``'s
    units of work (right for SQLite and the in-memory fakes; PostgreSQL passes its own)."""
    ctx = Context(
        storage=storage,
        ledger=ledger or UnitOfWorkLedger(storage),
        clock=clock,
        ids=ids,
        currencies=currencies or Currencies.default(),
        list_cache=TransactionListCache(cache, cache_ttl_seconds),
        policy=policy or Policy(),
        secret_box=secret_box,
        counter=counter or Uncounted(),
    )
    sessions = SessionService(
        ctx, SessionMarks(retention=ctx.policy.session_retention), session_feed
    )
    sender = webhook_sender or NoSender()
    return WalletCore(
        ctx=ctx,
        auth=AuthService(ctx, password_hasher, tokens, sessions),
        users=UserService(ctx, sessions),
        sessions=sessions,
        wallets=WalletService(ctx),
        transfers=TransferService(ctx),
        transactions=TransactionService(ctx),
        cashouts=CashOutService(ctx, secret_hasher),
        deposits=DepositService(ctx),
        expiry=ExpiryService(ctx),
        audit=AuditService(ctx),
        idempotency=IdempotencyService(ctx),
        notifications=NotificationService(ctx, renderer, notifier),
        events=EventService(ctx),
        webhooks=WebhookEndpointService(ctx, sender, webhook_https_only),
        webhook_delivery=WebhookDeliveryService(ctx, sender, webhook_retry or RetryPolicy()),
        statements=StatementService(ctx),
        reversals=ReversalService(ctx),
    )
