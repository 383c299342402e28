"""Per-user transaction-list cache keys with O(1) invalidation by generation numbers.

A cached page lives under a key that embeds the viewer's generation, the all-viewers generation
(staff pages) and a global epoch. Invalidation increments generations; old pages are simply never
read again and expire by TTL. If an increment cannot reach the cache, the epoch is bumped as soon as
the cache answers again, so pages cached before an outage are never served after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from uuid import UUID

from wallet_core.ports import Cache

_EPOCH = "txl:epoch"
_ALL = "txl:gen:all"


def _gen_key(user_id: UUID) -> str:
    return f"txl:gen:{user_id}"


class TransactionListCache:
    def __init__(self, cache: Cache, ttl_seconds: int) -> None:
        self._cache = cache
        self._ttl = ttl_seconds
        self._epoch_bump_owed = False

    async def lookup(self, viewer_id: UUID | None, query: str) -> tuple[str, bytes | None]:
        """The key this page is cached under now, and the cached bytes if there are any."""
        await self._pay_epoch_debt()
        gen = _gen_key(viewer_id) if viewer_id is not None else _ALL
        epoch, generation = await self._cache.get_many([_EPOCH, gen])
        digest = hashlib.sha256(query.encode()).hexdigest()[:32]
        viewer = str(viewer_id) if viewer_id is not None else "all"
        key = f"txl:page:{viewer}:{_num(epoch)}:{_num(generation)}:{digest}"
        (cached,) = await self._cache.get_many([key])
        return key, cached

    async def store(self, key: str, body: bytes) -> None:
        await self._cache.set(key, body, self._ttl)

    async def invalidate(self, user_ids: Iterable[UUID]) -> None:
        keys = [_gen_key(u) for u in dict.fromkeys(user_ids)] + [_ALL]
        if not await self._cache.incr(keys):
            self._epoch_bump_owed = True

    async def _pay_epoch_debt(self) -> None:
        if self._epoch_bump_owed and await self._cache.incr([_EPOCH]):
            self._epoch_bump_owed = False


def _num(raw: bytes | None) -> str:
    return raw.decode() if raw else "0"
