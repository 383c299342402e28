"""Argon2id password hashing, run in worker threads so a login never stalls the event loop."""

from __future__ import annotations

import asyncio
import secrets
import threading

from argon2 import PasswordHasher, Type
from argon2.exceptions import Argon2Error


class Argon2PasswordHasher:
    """The ``PasswordHasher`` port on argon2-cffi (argon2id, OWASP-style defaults)."""

    def __init__(
        self, time_cost: int = 3, memory_cost_kib: int = 65536, parallelism: int = 1
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        return await asyncio.to_thread(self._verify, password_hash, password)

    async def burn(self, password: str) -> None:
        """Verify against a dummy hash of the same cost, so unknown users take as long as known."""
        await asyncio.to_thread(self._burn, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (Argon2Error, ValueError, TypeError):
            return False

    def _burn(self, password: str) -> None:
        self._verify(self._dummy(), password)

    def _dummy(self) -> str:
        """Made on first use (not at import or start-up), once, with this hasher's parameters."""
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(32))
            return self._dummy_hash
