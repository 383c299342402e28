"""The SQL unit of work: one session, and every repository on it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sql.entries import SqlEntryRepository
from adapters.sql.events import SqlEventRepository
from adapters.sql.repositories.accounts import SqlAccountRepository
from adapters.sql.repositories.outbox import SqlOutboxRepository
from adapters.sql.repositories.receipts import SqlReceiptRepository
from adapters.sql.repositories.tokens import SqlRefreshTokenRepository
from adapters.sql.repositories.transactions import SqlTransactionRepository
from adapters.sql.repositories.users import SqlUserRepository
from adapters.sql.session import Session
from adapters.sql.session_marks import SqlSessionMarkRepository
from adapters.sql.webhooks import SqlWebhookRepository


class SqlUnitOfWork:
    """The repositories of one transaction, sharing its session."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.session = Session(conn)
        self.users = SqlUserRepository(self.session)
        self.accounts = SqlAccountRepository(self.session)
        self.transactions = SqlTransactionRepository(self.session)
        self.entries = SqlEntryRepository(self.session)
        self.refresh_tokens = SqlRefreshTokenRepository(self.session)
        self.session_marks = SqlSessionMarkRepository(self.session)
        self.receipts = SqlReceiptRepository(self.session)
        self.outbox = SqlOutboxRepository(self.session)
        self.events = SqlEventRepository(self.session)
        self.webhooks = SqlWebhookRepository(self.session)
