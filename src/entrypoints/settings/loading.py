"""Settings from the environment (and a .env file): which variable sets what, and the checks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote

from entrypoints.settings.model import (
    Settings,
    _bool,
    _choice,
    _float,
    _int,
    _list,
    _networks,
    _rate,
    read_env_file,
)
from entrypoints.settings.values import DEFAULT_CURRENCIES, DEFAULT_DATABASE_URL, SettingsError
from wallet_core.money import Currencies

_INTS = {
    "ACCESS_TOKEN_TTL_SECONDS": ("access_token_ttl_seconds", 1),
    "REFRESH_TOKEN_TTL_SECONDS": ("refresh_token_ttl_seconds", 1),
    "TRANSFER_EXPIRY_SECONDS": ("transfer_expiry_seconds", 1),
    "CASHOUT_EXPIRY_SECONDS": ("cashout_expiry_seconds", 1),
    "CACHE_TTL_SECONDS": ("cache_ttl_seconds", 1),
    "IDEMPOTENCY_TTL_SECONDS": ("idempotency_ttl_seconds", 60),
    "WEBHOOK_TOLERANCE_SECONDS": ("webhook_tolerance_seconds", 1),
    "SMTP_PORT": ("smtp_port", 1),
    "DB_POOL_SIZE": ("db_pool_size", 1),
    "DB_MAX_OVERFLOW": ("db_max_overflow", 0),
    "ARGON2_TIME_COST": ("argon2_time_cost", 1),
    "ARGON2_MEMORY_COST_KIB": ("argon2_memory_cost_kib", 8),
    "EXPIRY_INTERVAL_SECONDS": ("expiry_interval_seconds", 1),
    "TASK_RECLAIM_SECONDS": ("task_reclaim_seconds", 1),
    "EVENT_RETENTION_DAYS": ("event_retention_days", 1),
    "WEBHOOK_TIMEOUT_SECONDS": ("webhook_timeout_seconds", 1),
    "WEBHOOK_RETRY_BASE_SECONDS": ("webhook_retry_base_seconds", 1),
    "WEBHOOK_RETRY_HOURS": ("webhook_retry_hours", 1),
}
_RATES = {
    "RATE_LIMIT_ANON": "rate_limit_anon",
    "RATE_LIMIT_USER": "rate_limit_user",
    "RATE_LIMIT_REGISTRATION": "rate_limit_registration",
    "RATE_LIMIT_WALLET": "rate_limit_wallet",
    "RATE_LIMIT_WEBHOOK": "rate_limit_webhook",
}
_NETWORKS = {
    "PAYSEND_IP_ALLOWLIST": "paysend_ip_allowlist",
    "ATM_IP_ALLOWLIST": "atm_ip_allowlist",
    "TRUSTED_PROXIES": "trusted_proxies",
}
_STRINGS = {
    "DATABASE_URL": "database_url",
    "SMTP_HOST": "smtp_host",
    "SMTP_USERNAME": "smtp_username",
    "SMTP_PASSWORD": "smtp_password",
    "EMAIL_FROM": "email_from",
    "PUBLIC_BASE_URL": "public_base_url",
    "CURRENCIES": "currencies",
    "WORKER_METRICS_HOST": "worker_metrics_host",
    "OTEL_SERVICE_NAME": "otel_service_name",
}
_FLOATS = {
    "OUTBOX_POLL_SECONDS": "outbox_poll_seconds",
    "HTTP_HEADER_TIMEOUT_SECONDS": "http_header_timeout_seconds",
    "HTTP_BODY_TIMEOUT_SECONDS": "http_body_timeout_seconds",
}

#: Every variable this service reads (``.env.example`` documents each).
KNOWN_VARIABLES = frozenset(
    {
        *_INTS,
        *_RATES,
        *_NETWORKS,
        *_STRINGS,
        *_FLOATS,
        "ENV",
        "REDIS_URL",
        "SECRET_KEY",
        "PREVIOUS_SECRET_KEYS",
        "PAYSEND_WEBHOOK_SECRETS",
        "ATM_WEBHOOK_SECRETS",
        "RATE_LIMIT_ENABLED",
        "EMAIL_BACKEND",
        "SMTP_STARTTLS",
        "LOG_FORMAT",
        "LOG_LEVEL",
        "DEFAULT_CURRENCY",
        "WORKER_METRICS_PORT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_TRACES_SAMPLER_ARG",
        "WALLET_ADMIN_PASSWORD",  # read by `wallet create-admin` only
        "WEBHOOK_ALLOW_PRIVATE_TARGETS",
    }
)


def load_settings(
    environ: Mapping[str, str] | None = None,
    env_file: Path | None = Path(".env"),
    dev_secrets: Path | None = None,
) -> Settings:
    """Settings from ``environ`` (default: the process environment) over ``env_file``; in
    development, over the generated ``dev_secrets`` file too (see entrypoints.dev_secrets)."""
    source: dict[str, str] = read_env_file(env_file) if env_file is not None else {}
    source.update(os.environ if environ is None else environ)
    values: dict[str, object] = {}

    env = _choice("ENV", source.get("ENV", "development"), ("development", "production", "test"))
    values["env"] = env
    if env == "development" and dev_secrets is not None:
        values["development_secrets"] = _fill_development_secrets(source, dev_secrets)
    for var, attr in _STRINGS.items():
        if source.get(var, "").strip():
            values[attr] = source[var].strip()
    for var, (attr, minimum) in _INTS.items():
        if source.get(var, "").strip():
            values[attr] = _int(var, source[var], minimum)
    for var, attr in _RATES.items():
        if source.get(var, "").strip():
            values[attr] = _rate(var, source[var])
    for var, attr in _NETWORKS.items():
        if var in source:
            values[attr] = _networks(var, source[var])
    if source.get("REDIS_URL", "").strip():
        redis_url = source["REDIS_URL"].strip()
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                f"REDIS_URL must start with redis://, rediss:// or unix://, got {redis_url!r}"
            )
        values["redis_url"] = redis_url
    if source.get("SECRET_KEY", "").strip():
        key = source["SECRET_KEY"].strip()
        if len(key) < 32:
            raise SettingsError("SECRET_KEY must be at least 32 characters long")
        values["secret_key"] = key
        values["secret_key_is_generated"] = False
    values["previous_secret_keys"] = _list(source.get("PREVIOUS_SECRET_KEYS", ""))
    values["paysend_webhook_secrets"] = _list(source.get("PAYSEND_WEBHOOK_SECRETS", ""))
    values["atm_webhook_secrets"] = _list(source.get("ATM_WEBHOOK_SECRETS", ""))
    if source.get("RATE_LIMIT_ENABLED", "").strip():
        values["rate_limit_enabled"] = _bool("RATE_LIMIT_ENABLED", source["RATE_LIMIT_ENABLED"])
    if source.get("SMTP_STARTTLS", "").strip():
        values["smtp_starttls"] = _bool("SMTP_STARTTLS", source["SMTP_STARTTLS"])
    if source.get("WEBHOOK_ALLOW_PRIVATE_TARGETS", "").strip():
        values["webhook_allow_private_targets"] = _bool(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS", source["WEBHOOK_ALLOW_PRIVATE_TARGETS"]
        )
    if source.get("EMAIL_BACKEND", "").strip():
        values["email_backend"] = _choice(
            "EMAIL_BACKEND", source["EMAIL_BACKEND"], ("console", "smtp", "memory")
        )
    default_format = "json" if env == "production" else "console"
    values["log_format"] = _choice(
        "LOG_FORMAT", source.get("LOG_FORMAT", "") or default_format, ("console", "json")
    )
    values["log_level"] = _choice(
        "LOG_LEVEL", source.get("LOG_LEVEL", "") or "info", ("debug", "info", "warning", "error")
    ).upper()
    for var, attr in _FLOATS.items():
        if source.get(var, "").strip():
            values[attr] = _float(var, source[var])
    if source.get("WORKER_METRICS_PORT", "").strip():
        port = _int("WORKER_METRICS_PORT", source["WORKER_METRICS_PORT"], 1)
        if port > 65535:
            raise SettingsError(f"WORKER_METRICS_PORT must be a TCP port, got {port}")
        values["worker_metrics_port"] = port
    values.update(_tracing(source))

    try:
        registry = Currencies.parse(str(values.get("currencies", DEFAULT_CURRENCIES)))
    except ValueError as exc:
        raise SettingsError(f"CURRENCIES is invalid: {exc}") from None
    default_currency = source.get("DEFAULT_CURRENCY", "").strip().upper() or "USD"
    if default_currency not in registry:
        raise SettingsError(f"DEFAULT_CURRENCY {default_currency!r} is not in CURRENCIES")
    values["default_currency"] = default_currency
    _check_database_url(str(values.get("database_url", DEFAULT_DATABASE_URL)))

    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.is_production:
        _refuse_unsafe_production(settings)
    return settings


def _fill_development_secrets(source: dict[str, str], path: Path) -> tuple[str, ...]:
    from entrypoints.dev_secrets import GENERATED, development_secrets

    missing = [name for name in GENERATED if not source.get(name, "").strip()]
    generated = development_secrets(path) if missing else {}
    filled = tuple(name for name in missing if generated.get(name))
    source.update({name: generated[name] for name in filled})
    return filled


def _tracing(source: Mapping[str, str]) -> dict[str, object]:
    """The OpenTelemetry variables, with their standard names and meanings (the OTLP endpoint is
    the collector's base URL; traces go to ``/v1/traces`` under it)."""
    endpoint = source.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/")
    if not endpoint:
        return {}
    if not endpoint.startswith(("http://", "https://")):
        raise SettingsError(
            f"OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL, got {endpoint!r}"
        )
    values: dict[str, object] = {"otel_exporter_otlp_endpoint": endpoint}
    headers = []
    for item in _list(source.get("OTEL_EXPORTER_OTLP_HEADERS", "")):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise SettingsError("OTEL_EXPORTER_OTLP_HEADERS must look like name=value,name=value")
        headers.append((name.strip().lower(), unquote(value.strip())))
    values["otel_exporter_otlp_headers"] = tuple(headers)
    if source.get("OTEL_TRACES_SAMPLER_ARG", "").strip():
        ratio = _float("OTEL_TRACES_SAMPLER_ARG", source["OTEL_TRACES_SAMPLER_ARG"])
        if ratio > 1:
            raise SettingsError(f"OTEL_TRACES_SAMPLER_ARG must be in (0, 1], got {ratio}")
        values["otel_traces_sampler_arg"] = ratio
    return values


def _check_database_url(url: str) -> None:
    if not url.startswith(("sqlite", "postgresql", "postgres://")):
        raise SettingsError(
            f"DATABASE_URL must be a postgresql:// or sqlite:// URL, got {url.split('@')[-1]!r}"
        )


def _refuse_unsafe_production(settings: Settings) -> None:
    if settings.secret_key_is_generated:
        raise SettingsError("SECRET_KEY is required when ENV=production")
    if settings.uses_sqlite:
        raise SettingsError("DATABASE_URL must be PostgreSQL when ENV=production, not SQLite")
    if settings.email_backend == "memory":
        raise SettingsError("EMAIL_BACKEND=memory is for tests; use smtp when ENV=production")
