"""Development secrets: made once into a private local file, read only in development, and
never a substitute for the real thing in production."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from entrypoints.dev_secrets import GENERATED, development_secrets
from entrypoints.settings import SettingsError, load_settings


def test_made_once_private_and_the_same_for_every_later_process(tmp_path: Path) -> None:
    path = tmp_path / ".wallet-dev-secrets"
    first = load_settings({}, env_file=None, dev_secrets=path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_settings({}, env_file=None, dev_secrets=path)
    assert first.secret_key == again.secret_key  # tokens survive a restart
    assert not first.secret_key_is_generated
    assert first.paysend_webhook_secrets == again.paysend_webhook_secrets != ()
    assert first.atm_webhook_secrets == again.atm_webhook_secrets != ()
    assert set(first.development_secrets) == set(GENERATED)


def test_concurrent_first_starts_agree_on_one_set(tmp_path: Path) -> None:
    path = tmp_path / ".wallet-dev-secrets"
    seen: list[dict[str, str]] = []
    threads = [
        threading.Thread(target=lambda: seen.append(development_secrets(path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert all(values == seen[0] for values in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".wallet-dev-secrets"]


def test_configured_values_win_and_nothing_is_written_when_all_are_set(tmp_path: Path) -> None:
    path = tmp_path / ".wallet-dev-secrets"
    key = "k" * 40
    settings = load_settings(
        {"SECRET_KEY": key, "PAYSEND_WEBHOOK_SECRETS": "p1", "ATM_WEBHOOK_SECRETS": "a1"},
        env_file=None,
        dev_secrets=path,
    )
    assert settings.secret_key == key
    assert settings.paysend_webhook_secrets == ("p1",)
    assert settings.development_secrets == ()
    assert not path.exists()
    partly = load_settings({"SECRET_KEY": key}, env_file=None, dev_secrets=path)
    assert partly.secret_key == key
    assert partly.development_secrets == ("PAYSEND_WEBHOOK_SECRETS", "ATM_WEBHOOK_SECRETS")


@pytest.mark.parametrize("env", ["production", "test"])
def test_never_read_outside_development(tmp_path: Path, env: str) -> None:
    path = tmp_path / ".wallet-dev-secrets"
    load_settings({}, env_file=None, dev_secrets=path)  # the file exists
    if env == "production":
        with pytest.raises(SettingsError, match="SECRET_KEY is required"):
            load_settings(
                {"ENV": env, "DATABASE_URL": "postgresql://db/wallet"},
                env_file=None,
                dev_secrets=path,
            )
        return
    settings = load_settings({"ENV": env}, env_file=None, dev_secrets=path)
    assert settings.secret_key_is_generated
    assert settings.paysend_webhook_secrets == ()  # the webhook refuses every request
    assert settings.development_secrets == ()


def test_an_unwritable_directory_falls_back_to_a_key_per_process(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / ".wallet-dev-secrets"
    settings = load_settings({}, env_file=None, dev_secrets=missing)
    assert settings.secret_key_is_generated
    assert settings.development_secrets == ()
