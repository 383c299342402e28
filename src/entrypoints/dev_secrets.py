"""Development secrets: a ``SECRET_KEY`` and webhook secrets generated once into a local file.

With ``ENV=development`` (the default) and none of these variables set, a random key per process
would make every token die at restart, and webhooks without a secret refuse every request. So the
first command that needs them writes ``.wallet-dev-secrets`` (mode 0600, git-ignored) in the
working directory, next to the embedded database, and every later process there reads it. The
environment and ``.env`` always win, and nothing reads this file when ``ENV`` is ``production``
or ``test``: production still refuses to start without a real ``SECRET_KEY`` and still refuses
webhooks that have no configured secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from entrypoints.settings import read_env_file

DEV_SECRETS_FILE = Path(".wallet-dev-secrets")
#: The variables the file provides, and how each value is made.
GENERATED: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(48),
    "PAYSEND_WEBHOOK_SECRETS": lambda: "dev-paysend-" + secrets.token_hex(16),
    "ATM_WEBHOOK_SECRETS": lambda: "dev-atm-" + secrets.token_hex(16),
}
_HEADER = (
    "# Development secrets, generated once by the wallet command (ENV=development only; never\n"
    "# read in production). Delete this file for new ones: tokens signed with the old key die.\n"
)


def development_secrets(path: Path) -> dict[str, str]:
    """The file's values, creating it first if it does not exist. Empty when the directory is
    not writable (the caller then falls back to a key per process)."""
    if not path.is_file():
        with contextlib.suppress(OSError):
            _create(path)
    try:
        return read_env_file(path)
    except OSError:
        return {}


def _create(path: Path) -> None:
    """Written to a temporary file and linked into place, so concurrent first starts (several
    server workers) agree on one set of secrets and nobody reads a half-written file."""
    body = _HEADER + "".join(f"{name}={make()}\n" for name, make in GENERATED.items())
    scratch = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(body)
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
