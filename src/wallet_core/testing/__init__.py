"""The core on in-memory adapters: :func:`build_in_memory`, and the fakes and storage behind it.

For unit tests and for library users trying the core out without a database or a network. The
in-process implementations that production also uses (the wall clock, the cache) are in
:mod:`wallet_core.local`.
"""

from wallet_core.testing.build import build_in_memory
from wallet_core.testing.fakes import (
    HmacTokenIssuer,
    KeyedSecretHasher,
    ManualClock,
    MemorySecretBox,
    Pbkdf2PasswordHasher,
    PlainRenderer,
)
from wallet_core.testing.storage import MemoryStorage

__all__ = [
    "HmacTokenIssuer",
    "KeyedSecretHasher",
    "ManualClock",
    "MemorySecretBox",
    "MemoryStorage",
    "Pbkdf2PasswordHasher",
    "PlainRenderer",
    "build_in_memory",
]
