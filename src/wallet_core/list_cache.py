"""Per-user transaction-list cache keys with O(1) invalidation by generation numbers.

A cached page lives under a key that embeds the viewer's generation, the all-viewers generation
(staff pages) and a global epoch. Invalidation increments generations; old pages are simply never
read again and expire by TTL.

An outage can make a page stale: an invalidation that cannot reach the cache leaves the old
generation in place. So whenever this process finds the cache unreachable, for any operation, it
owes an epoch bump and pays it before anything else the moment the cache answers again; the bump
retires every page cached before. Any process that was serving while the cache was away noticed
it, and so bumps the epoch before it serves a cached page again; background processes pay their
debt from their loops (``settle``).
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

    async def lookup(self, viewer_id: UUID | None, query: str) -> tuple[str | None, bytes | None]:
        """The key this page is cached under now (None: do not cache it) and the cached bytes."""
        if not await self.settle():
            return None, None
        gen = _gen_key(viewer_id) if viewer_id is not None else _ALL
        generations = await self._cache.get_many([_EPOCH, gen])
        if generations is None:
            self._epoch_bump_owed = True
            return None, None
        epoch, generation = generations
        digest = hashlib.sha256(query.encode()).hexdigest()[:32]
        viewer = str(viewer_id) if viewer_id is not None else "all"
        key = f"txl:page:{viewer}:{_num(epoch)}:{_num(generation)}:{digest}"
        cached = await self._cache.get_many([key])
        if cached is None:
            self._epoch_bump_owed = True
            return None, None
        return key, cached[0]

    async def store(self, key: str | None, body: bytes) -> None:
        if key is not None and not await self._cache.set(key, body, self._ttl):
            self._epoch_bump_owed = True

    async def invalidate(self, user_ids: Iterable[UUID]) -> None:
        keys = [_gen_key(u) for u in dict.fromkeys(user_ids)] + [_ALL]
        if not await self.settle() or not await self._cache.incr(keys):
            self._epoch_bump_owed = True

    async def settle(self) -> bool:
        """Pay an owed epoch bump; False while the cache is still out of reach."""
        if self._epoch_bump_owed and await self._cache.incr([_EPOCH]):
            self._epoch_bump_owed = False
        return not self._epoch_bump_owed


def _num(raw: bytes | None) -> str:
    return raw.decode() if raw else "0"
