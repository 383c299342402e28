"""Settings: every documented variable, validated once, failing fast with the variable's name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoints.settings import KNOWN_VARIABLES, RateLimit, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION_MD = ROOT / "docs" / "configuration.md"


def test_defaults_need_no_configuration() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.env == "development"
    assert settings.uses_sqlite
    assert settings.embedded
    assert settings.rate_limit_user == RateLimit(1000, "day")
    assert settings.access_token_ttl_seconds == 1800
    assert settings.email_backend == "console"
    assert settings.log_format == "console"
    assert len(settings.secret_key) >= 32


def test_every_documented_variable_is_read() -> None:
    """docs/configuration.md names no variable the settings do not read (and misses none)."""
    rows = [line for line in CONFIGURATION_MD.read_text().splitlines() if line.startswith("| `")]
    names = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert names - KNOWN_VARIABLES == set()
    assert KNOWN_VARIABLES - names == set()


def test_env_example_documents_every_variable() -> None:
    text = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert KNOWN_VARIABLES - documented == set()


def test_values_are_parsed() -> None:
    settings = load_settings(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/2",
            "RATE_LIMIT_WALLET": "5/minute",
            "PAYSEND_WEBHOOK_SECRETS": "one, two ,",
            "PAYSEND_IP_ALLOWLIST": "10.0.0.0/8, ::1",
            "TRUSTED_PROXIES": "192.168.0.1",
            "SMTP_STARTTLS": "yes",
            "CURRENCIES": "USD:2,JPY:0",
            "DEFAULT_CURRENCY": "jpy",
        },
        env_file=None,
    )
    assert not settings.embedded
    assert settings.rate_limit_wallet == RateLimit(5, "minute")
    assert settings.paysend_webhook_secrets == ("one", "two")
    assert [str(n) for n in settings.paysend_ip_allowlist] == ["10.0.0.0/8", "::1/128"]
    assert settings.smtp_starttls is True
    assert settings.default_currency == "JPY"
    assert settings.currency_registry().get("JPY").digits == 0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ACCESS_TOKEN_TTL_SECONDS", "soon"),
        ("ACCESS_TOKEN_TTL_SECONDS", "0"),
        ("RATE_LIMIT_ANON", "100 per day"),
        ("RATE_LIMIT_USER", "0/day"),
        ("RATE_LIMIT_ENABLED", "maybe"),
        ("PAYSEND_IP_ALLOWLIST", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "not-an-ip"),
        ("EMAIL_BACKEND", "pigeon"),
        ("LOG_FORMAT", "xml"),
        ("ENV", "staging"),
        ("REDIS_URL", "http://localhost"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("SECRET_KEY", "short"),
        ("CURRENCIES", "usd:2,EURO:2"),
        ("DEFAULT_CURRENCY", "CHF"),
        ("SMTP_PORT", "-1"),
        ("HTTP_HEADER_TIMEOUT_SECONDS", "0"),
        ("HTTP_BODY_TIMEOUT_SECONDS", "soon"),
        ("WORKER_METRICS_PORT", "70000"),
        ("WORKER_METRICS_PORT", "0"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value}, env_file=None)


def test_slow_client_timeouts_and_the_worker_metrics_port() -> None:
    defaults = load_settings({}, env_file=None)
    assert defaults.http_header_timeout_seconds == defaults.http_body_timeout_seconds == 30
    assert defaults.worker_metrics_port is None
    settings = load_settings(
        {
            "HTTP_HEADER_TIMEOUT_SECONDS": "2.5",
            "HTTP_BODY_TIMEOUT_SECONDS": "10",
            "WORKER_METRICS_PORT": "9464",
            "WORKER_METRICS_HOST": "10.0.0.5",
        },
        env_file=None,
    )
    assert settings.http_header_timeout_seconds == 2.5
    assert settings.http_body_timeout_seconds == 10
    assert (settings.worker_metrics_host, settings.worker_metrics_port) == ("10.0.0.5", 9464)


def test_production_refuses_unsafe_defaults() -> None:
    postgres = "postgresql://wallet@db/wallet"
    key = "k" * 40
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        load_settings({"ENV": "production", "DATABASE_URL": postgres}, env_file=None)
    with pytest.raises(SettingsError, match="SQLite"):
        load_settings({"ENV": "production", "SECRET_KEY": key}, env_file=None)
    production = load_settings(
        {"ENV": "production", "SECRET_KEY": key, "DATABASE_URL": postgres}, env_file=None
    )
    assert production.is_production
    assert production.log_format == "json"


def test_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\nexport CACHE_TTL_SECONDS=60\nPUBLIC_BASE_URL='https://wallet.example'\n"
    )
    settings = load_settings({"CACHE_TTL_SECONDS": "30"}, env_file=env_file)
    assert settings.cache_ttl_seconds == 30
    assert settings.public_base_url == "https://wallet.example"


def test_a_malformed_env_file_line_is_named(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("JUST_A_WORD\n")
    with pytest.raises(SettingsError, match=r"\.env:1"):
        load_settings({}, env_file=env_file)


def test_importing_the_app_reads_no_environment() -> None:
    """Nothing reads configuration at import time: a broken environment only matters when
    settings are loaded."""
    env = {**os.environ, "ACCESS_TOKEN_TTL_SECONDS": "broken"}
    imports = "import entrypoints.http.app, entrypoints.http.asgi, entrypoints.cli"
    subprocess.run([sys.executable, "-c", imports], env=env, check=True, timeout=60)
    with pytest.raises(SettingsError):
        load_settings(env, env_file=None)


def test_the_readme_embedding_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Embedding the core")[1].split("```python\n")[1].split("```")[0]
    exec(compile(code, "README.md", "exec"), {"__name__": "readme_example"})  # noqa: S102
    assert capsys.readouterr().out.split() == ["7450", "True"]
