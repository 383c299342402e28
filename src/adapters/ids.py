"""UUIDv7 identifiers: unique and time-ordered, so primary keys index well and sort by creation."""

from __future__ import annotations

from uuid import UUID

import uuid_utils


class Uuid7IdGenerator:
    def new_id(self) -> UUID:
        """A standard library ``UUID``: the core and database drivers never see a foreign type."""
        return UUID(int=uuid_utils.uuid7().int)
