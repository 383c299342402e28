"""The composition root: builds the object graph from explicit settings.

``build(settings, **overrides)`` is the only place that chooses adapters. Tests pass overrides
(a manual clock, a memory notifier, cheap argon2 parameters through settings) instead of patching.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

from adapters.email.console import ConsoleNotifier
from adapters.email.templates import TemplateRenderer
from adapters.ids import Uuid7IdGenerator
from adapters.rate_limit import MemoryRateLimiter, RateLimiter
from adapters.redis.client import RedisHealth
from adapters.security.argon2_hasher import Argon2PasswordHasher
from adapters.security.jwt_tokens import JwtTokenIssuer
from adapters.security.secret_box import AesGcmSecretBox
from adapters.security.secret_hasher import HmacSecretHasher
from adapters.sql.engine import create_engine, is_sqlite, plain_url
from adapters.sql.event_listener import PgEventListener
from adapters.sql.storage import SqlStorage
from adapters.webhooks.httpx_sender import HttpxWebhookSender
from adapters.webhooks.targets import TargetPolicy
from entrypoints.session_sync import SessionSync
from entrypoints.settings import Settings
from wallet_core.core import WalletCore, build_core
from wallet_core.local import LocalSessionFeed, MemoryCache, MemoryNotifier, SystemClock
from wallet_core.ports import (
    Cache,
    Clock,
    IdGenerator,
    MovementCounter,
    Notifier,
    PasswordHasher,
    SecretBox,
)
from wallet_core.services.context import Policy
from wallet_core.webhooks import RetryPolicy

if TYPE_CHECKING:
    # Imported by build() only when configured, so a command on the embedded default (or on
    # PostgreSQL without Redis) never pays for redis, asyncpg's ledger or aiosmtplib.
    from redis.asyncio import Redis

    from adapters.sql.pg_ledger import AsyncpgLedger

log = structlog.get_logger(__name__)


@dataclass
class Container:
    """Everything the entrypoints use, built once per process."""

    settings: Settings
    core: WalletCore
    storage: SqlStorage
    rate_limiter: RateLimiter
    notifier: Notifier
    clock: Clock
    secret_box: SecretBox
    session_sync: SessionSync
    ledger: AsyncpgLedger | None = None
    redis: Redis | None = None
    event_listener: PgEventListener | None = None
    webhook_sender: HttpxWebhookSender | None = None

    def start(self) -> None:
        """Start this process's background upkeep (session marks, the live streams' wake-up);
        idempotent. Inside the event loop that serves requests, e.g. the app's lifespan."""
        self.session_sync.start()
        if self.event_listener is not None:
            self.event_listener.start()

    async def check_ready(self) -> dict[str, str]:
        """Each dependency's state: "ok" or why not."""
        checks: dict[str, str] = {}
        try:
            await self.storage.ping()
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unavailable: {type(exc).__name__}"
        if self.redis is not None:
            try:
                await self.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:
                checks["redis"] = f"unavailable: {type(exc).__name__}"
        return checks

    async def close(self) -> None:
        await self.session_sync.stop()
        if self.event_listener is not None:
            await self.event_listener.stop()
        if self.webhook_sender is not None:
            await self.webhook_sender.close()
        await self.storage.close()
        if self.ledger is not None:
            await self.ledger.close()
        if self.redis is not None:
            await self.redis.aclose()


def derive_key(secret: str, purpose: str) -> bytes:
    """Independent keys for independent uses, all from SECRET_KEY."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def policy_from(settings: Settings) -> Policy:
    return Policy(
        access_token_ttl=timedelta(seconds=settings.access_token_ttl_seconds),
        transfer_expiry=timedelta(seconds=settings.transfer_expiry_seconds),
        cashout_expiry=timedelta(seconds=settings.cashout_expiry_seconds),
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
        default_currency=settings.default_currency,
        event_retention=timedelta(days=settings.event_retention_days),
    )


def notifier_from(settings: Settings) -> Notifier:
    if settings.email_backend == "smtp":
        from adapters.email.smtp import SmtpNotifier

        return SmtpNotifier(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            sender=settings.email_from,
        )
    if settings.email_backend == "memory":
        return MemoryNotifier()
    return ConsoleNotifier()


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ids: IdGenerator | None = None,
    notifier: Notifier | None = None,
    password_hasher: PasswordHasher | None = None,
    cache: Cache | None = None,
    redis: Redis | None = None,
    rate_limiter: RateLimiter | None = None,
    counter: MovementCounter | None = None,
) -> Container:
    clock = clock or SystemClock()
    ids = ids or Uuid7IdGenerator()
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    storage = SqlStorage(engine)
    ledger = None
    if not is_sqlite(settings.database_url):
        from adapters.sql.pg_ledger import AsyncpgLedger

        ledger = AsyncpgLedger(plain_url(settings.database_url), pool_size=settings.db_pool_size)
    secret_box = AesGcmSecretBox(settings.secret_key, settings.previous_secret_keys)
    if redis is None and settings.redis_url is not None:
        from adapters.redis.client import connect as connect_redis

        redis = connect_redis(settings.redis_url)
    health = RedisHealth()
    session_feed = None
    if redis is None:
        cache = MemoryCache() if cache is None else cache
        rate_limiter = MemoryRateLimiter(clock) if rate_limiter is None else rate_limiter
    else:
        from adapters.rate_limit import RedisRateLimiter
        from adapters.redis.cache import RedisCache
        from adapters.redis.session_feed import RedisSessionFeed

        cache = RedisCache(redis, health) if cache is None else cache
        rate_limiter = (
            RedisRateLimiter(redis, clock, health) if rate_limiter is None else rate_limiter
        )
        session_feed = RedisSessionFeed(redis, clock)
    notifier = notifier or notifier_from(settings)
    webhook_sender = HttpxWebhookSender(TargetPolicy(settings.webhook_allow_private_targets))
    core = build_core(
        storage=storage,
        cache=cache,
        clock=clock,
        ids=ids,
        password_hasher=password_hasher
        or Argon2PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost_kib=settings.argon2_memory_cost_kib,
        ),
        tokens=JwtTokenIssuer(
            signing_key=settings.secret_key,
            ttl_seconds=settings.access_token_ttl_seconds,
            previous_keys=settings.previous_secret_keys,
        ),
        secret_hasher=HmacSecretHasher(
            derive_key(settings.secret_key, "withdrawal-codes"),
            [derive_key(key, "withdrawal-codes") for key in settings.previous_secret_keys],
        ),
        renderer=TemplateRenderer(public_base_url=settings.public_base_url),
        notifier=notifier,
        secret_box=secret_box,
        ledger=ledger,
        counter=counter,
        session_feed=session_feed or LocalSessionFeed(),
        currencies=settings.currency_registry(),
        policy=policy_from(settings),
        cache_ttl_seconds=settings.cache_ttl_seconds,
        webhook_sender=webhook_sender,
        webhook_retry=RetryPolicy(
            base=timedelta(seconds=settings.webhook_retry_base_seconds),
            window=timedelta(hours=settings.webhook_retry_hours),
            timeout_seconds=settings.webhook_timeout_seconds,
        ),
        webhook_https_only=settings.is_production,
    )
    return Container(
        settings=settings,
        core=core,
        storage=storage,
        rate_limiter=rate_limiter,
        notifier=notifier,
        clock=clock,
        secret_box=secret_box,
        ledger=ledger,
        session_sync=SessionSync(core.sessions, clock, session_feed),
        redis=redis,
        event_listener=None
        if ledger is None
        else PgEventListener(plain_url(settings.database_url), core.ctx.event_signal),
        webhook_sender=webhook_sender,
    )
