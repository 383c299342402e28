"""Table definitions (``*Record``), separate from the domain objects they store: the ledger's
(``ledger``) and the integrations' (``integration``) on one declarative base (``base``).
Importing this package registers every table on ``Base.metadata``."""

from adapters.sql.records.base import (
    ACCOUNT_KINDS,
    EMPTY_METADATA,
    ENTRY_COLUMNS,
    FUNDING_SOURCES,
    NAMING,
    POSTED_TOTALS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    Base,
    Payload,
    Username,
    table_of,
)
from adapters.sql.records.integration import (
    EventRecord,
    EventViewerRecord,
    OutboxRecord,
    WebhookCursorRecord,
    WebhookDeliveryRecord,
    WebhookEndpointRecord,
)
from adapters.sql.records.ledger import (
    AccountRecord,
    EntryRecord,
    IdempotencyKeyRecord,
    RefreshTokenRecord,
    SessionMarkRecord,
    TransactionRecord,
    UserRecord,
)

__all__ = [
    "ACCOUNT_KINDS",
    "EMPTY_METADATA",
    "ENTRY_COLUMNS",
    "FUNDING_SOURCES",
    "NAMING",
    "POSTED_TOTALS",
    "TRANSACTION_STATUSES",
    "TRANSACTION_TYPES",
    "AccountRecord",
    "Base",
    "EntryRecord",
    "EventRecord",
    "EventViewerRecord",
    "IdempotencyKeyRecord",
    "OutboxRecord",
    "Payload",
    "RefreshTokenRecord",
    "SessionMarkRecord",
    "TransactionRecord",
    "UserRecord",
    "Username",
    "WebhookCursorRecord",
    "WebhookDeliveryRecord",
    "WebhookEndpointRecord",
    "table_of",
]
