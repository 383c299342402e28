"""The settings the composition root builds from, and the parsers of environment strings."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from entrypoints.http.client_ip import parse_networks
from entrypoints.settings.values import (
    _RATE,
    DEFAULT_CURRENCIES,
    DEFAULT_DATABASE_URL,
    Environment,
    Network,
    RateLimit,
    SettingsError,
)
from wallet_core.money import Currencies


@dataclass(frozen=True, slots=True)
class Settings:
    env: Environment = "development"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48), repr=False)
    secret_key_is_generated: bool = True
    previous_secret_keys: tuple[str, ...] = field(default=(), repr=False)
    access_token_ttl_seconds: int = 1800
    refresh_token_ttl_seconds: int = 86400
    transfer_expiry_seconds: int = 86400
    cashout_expiry_seconds: int = 1800
    cache_ttl_seconds: int = 900
    idempotency_ttl_seconds: int = 86400
    paysend_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    atm_webhook_secrets: tuple[str, ...] = field(default=(), repr=False)
    paysend_ip_allowlist: tuple[Network, ...] = (
        ip_network("127.0.0.1/32"),
        ip_network("::1/128"),
    )
    atm_ip_allowlist: tuple[Network, ...] = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
    trusted_proxies: tuple[Network, ...] = ()
    webhook_tolerance_seconds: int = 300
    rate_limit_enabled: bool = True
    rate_limit_anon: RateLimit = RateLimit(100, "day")
    rate_limit_user: RateLimit = RateLimit(1000, "day")
    rate_limit_registration: RateLimit = RateLimit(100, "day")
    rate_limit_wallet: RateLimit = RateLimit(100, "day")
    rate_limit_webhook: RateLimit = RateLimit(10000, "day")
    email_backend: Literal["console", "smtp", "memory"] = "console"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    email_from: str = "Digital Wallet <no-reply@localhost>"
    public_base_url: str = "http://localhost:8000"
    log_format: Literal["console", "json"] = "console"
    log_level: str = "INFO"
    currencies: str = DEFAULT_CURRENCIES
    default_currency: str = "USD"
    db_pool_size: int = 10
    db_max_overflow: int = 10
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536
    expiry_interval_seconds: int = 60
    outbox_poll_seconds: float = 1.0
    task_reclaim_seconds: int = 300
    http_header_timeout_seconds: float = 30.0
    http_body_timeout_seconds: float = 30.0
    worker_metrics_port: int | None = None
    worker_metrics_host: str = "127.0.0.1"
    otel_exporter_otlp_endpoint: str | None = None
    otel_exporter_otlp_headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    otel_service_name: str = "digital-wallet"
    otel_traces_sampler_arg: float = 1.0
    #: The variables that came from the development secrets file (entrypoints.dev_secrets).
    development_secrets: tuple[str, ...] = ()
    event_retention_days: int = 30
    webhook_timeout_seconds: int = 10
    webhook_retry_base_seconds: int = 10
    webhook_retry_hours: int = 72
    webhook_allow_private_targets: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def embedded(self) -> bool:
        """No Redis: cache, rate limits and background jobs run inside the API process."""
        return self.redis_url is None

    @property
    def tracing(self) -> bool:
        """OpenTelemetry traces go to an OTLP/HTTP collector (off unless an endpoint is set)."""
        return self.otel_exporter_otlp_endpoint is not None

    def currency_registry(self) -> Currencies:
        return Currencies.parse(self.currencies)


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _networks(name: str, raw: str) -> tuple[Network, ...]:
    try:
        return parse_networks(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _rate(name: str, raw: str) -> RateLimit:
    match = _RATE.match(raw)
    if not match or int(match[1]) < 1:
        raise SettingsError(f"{name} must look like N/second|minute|hour|day, got {raw!r}")
    return RateLimit(int(match[1]), match[2].lower())


def _choice(name: str, raw: str, options: tuple[str, ...]) -> str:
    value = raw.strip().lower()
    if value not in options:
        raise SettingsError(f"{name} must be one of {', '.join(options)}, got {raw!r}")
    return value


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; ``#`` comments; optional single or double quotes; ``export`` allowed."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values
