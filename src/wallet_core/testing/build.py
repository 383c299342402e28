"""build_in_memory(): a complete core on the in-memory adapters."""

from __future__ import annotations

import secrets

from wallet_core.core import WalletCore, build_core
from wallet_core.local import (
    LocalSessionFeed,
    MemoryCache,
    MemoryNotifier,
    SystemClock,
    Uuid7Generator,
)
from wallet_core.money import Currencies
from wallet_core.ports import Clock, Ledger, Storage, WebhookSender
from wallet_core.services.context import Policy
from wallet_core.testing.fakes import (
    HmacTokenIssuer,
    KeyedSecretHasher,
    MemorySecretBox,
    Pbkdf2PasswordHasher,
    PlainRenderer,
)
from wallet_core.testing.storage import MemoryStorage
from wallet_core.webhooks import RetryPolicy


def build_in_memory(
    *,
    clock: Clock | None = None,
    notifier: MemoryNotifier | None = None,
    currencies: Currencies | None = None,
    policy: Policy | None = None,
    secret: bytes | None = None,
    webhook_sender: WebhookSender | None = None,
    webhook_retry: RetryPolicy | None = None,
    webhook_https_only: bool = False,
    storage: Storage | None = None,
    ledger: Ledger | None = None,
) -> WalletCore:
    """A complete core on in-memory adapters: no database, no network (webhooks are sent
    only through a ``webhook_sender`` you give). A ``storage`` (and ``ledger``) you give replace
    the in-memory tables: the same fakes, over a real database."""
    clock = clock or SystemClock()
    ids = Uuid7Generator()
    key = secret or secrets.token_bytes(32)
    return build_core(
        storage=storage or MemoryStorage(ids.new_id, clock.now),
        ledger=ledger,
        cache=MemoryCache(clock),
        clock=clock,
        ids=ids,
        password_hasher=Pbkdf2PasswordHasher(),
        tokens=HmacTokenIssuer(key),
        secret_hasher=KeyedSecretHasher(key),
        renderer=PlainRenderer(),
        notifier=notifier or MemoryNotifier(),
        secret_box=MemorySecretBox(key),
        session_feed=LocalSessionFeed(),
        currencies=currencies,
        policy=policy,
        webhook_sender=webhook_sender,
        webhook_retry=webhook_retry,
        webhook_https_only=webhook_https_only,
    )
