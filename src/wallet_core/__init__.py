"""Digital Wallet core: a double-entry ledger with pending transfers, and the use cases on it.

Standard library only. Adapters implement the ports in :mod:`wallet_core.ports`.

The public API for library users (everything else may change between versions):

- :func:`build_in_memory` builds a complete :class:`WalletCore` on in-memory adapters.
- :class:`WalletCore` holds the use cases: ``core.auth``, ``core.users``, ``core.wallets``,
  ``core.transfers``, ``core.cashouts``, ``core.deposits``, ``core.transactions``,
  ``core.expiry``, ``core.audit``.
- :class:`Actor` says who is acting (a user id, and whether staff); :class:`Registration` is what
  ``core.auth.register`` takes.
- Errors are :class:`DomainError` subclasses with a stable ``code`` (``wallet_core.errors``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wallet_core.core import WalletCore
    from wallet_core.errors import DomainError
    from wallet_core.services.auth import Registration
    from wallet_core.services.context import Actor
    from wallet_core.testing import build_in_memory

__all__ = ["Actor", "DomainError", "Registration", "WalletCore", "build_in_memory"]


def __getattr__(name: str) -> Any:
    """Imported on first use, so ``import wallet_core.ledger`` stays as cheap as it was."""
    if name == "build_in_memory":
        from wallet_core.testing import build_in_memory

        return build_in_memory
    if name == "WalletCore":
        from wallet_core.core import WalletCore

        return WalletCore
    if name == "Actor":
        from wallet_core.services.context import Actor

        return Actor
    if name == "Registration":
        from wallet_core.services.auth import Registration

        return Registration
    if name == "DomainError":
        from wallet_core.errors import DomainError

        return DomainError
    raise AttributeError(f"module 'wallet_core' has no attribute {name!r}")
