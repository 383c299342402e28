"""The environment every test app runs with (and the webhook secrets it configures)."""

from __future__ import annotations

WEBHOOK_SECRET = "test-paysend-secret-0123456789"
ATM_SECRET = "test-atm-secret-0123456789abcdef"


def app_environment(**extra: str) -> dict[str, str]:
    """Settings for tests: cheap argon2, emails kept in memory, generous rate limits."""
    env = {
        "ENV": "test",
        "SECRET_KEY": "test-secret-key-for-jwt-signing-0123456789",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_COST_KIB": "8",
        "EMAIL_BACKEND": "memory",
        "PAYSEND_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "ATM_WEBHOOK_SECRETS": ATM_SECRET,
        "RATE_LIMIT_ANON": "100000/day",
        "RATE_LIMIT_USER": "100000/day",
        "RATE_LIMIT_REGISTRATION": "100000/day",
        "RATE_LIMIT_WALLET": "100000/day",
        "RATE_LIMIT_WEBHOOK": "100000/day",
        "LOG_LEVEL": "warning",
    }
    env.update(extra)
    return env
