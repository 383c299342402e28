"""The notifications (emails) use cases write to the outbox: their kinds and subject lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID


class NotificationKind(StrEnum):
    DEPOSIT_RECEIVED = "deposit_received"
    TRANSFER_SENT = "transfer_sent"
    TRANSFER_RECEIVED = "transfer_received"
    TRANSFER_ACCEPTED = "transfer_accepted"
    TRANSFER_REJECTED = "transfer_rejected"
    TRANSFER_CANCELLED = "transfer_cancelled"
    TRANSFER_EXPIRED = "transfer_expired"
    CASHOUT_REQUESTED = "cashout_requested"
    CASHOUT_COMPLETED = "cashout_completed"
    CASHOUT_CANCELLED = "cashout_cancelled"
    CASHOUT_EXPIRED = "cashout_expired"
    REVERSAL_DEBITED = "reversal_debited"
    REVERSAL_CREDITED = "reversal_credited"


#: The payload key of a cash-out code, sealed (encrypted) by the core's SecretBox: the code never
#: rests in the outbox in clear. Opened into ``withdrawal_code`` only to render the email, and
#: scrubbed from the outbox once the email is sent.
SEALED_CODE = "withdrawal_code_sealed"
OPENED_CODE = "withdrawal_code"
SECRET_PAYLOAD_KEYS = frozenset({SEALED_CODE, OPENED_CODE})

#: Subject lines, with ``{placeholders}`` from the event payload.
SUBJECTS: dict[NotificationKind, str] = {
    NotificationKind.DEPOSIT_RECEIVED: "Deposit received: {amount} {currency}",
    NotificationKind.TRANSFER_SENT: "You sent {amount} {currency} to {recipient}",
    NotificationKind.TRANSFER_RECEIVED: "{sender} sent you {amount} {currency}",
    NotificationKind.TRANSFER_ACCEPTED: "{recipient} accepted your transfer of {amount} {currency}",
    NotificationKind.TRANSFER_REJECTED: "{recipient} rejected your transfer of {amount} {currency}",
    NotificationKind.TRANSFER_CANCELLED: "{sender} cancelled a transfer of {amount} {currency}",
    NotificationKind.TRANSFER_EXPIRED: "Transfer {reference} of {amount} {currency} expired",
    NotificationKind.CASHOUT_REQUESTED: "Your cash-out code for {amount} {currency}",
    NotificationKind.CASHOUT_COMPLETED: "Cash-out of {amount} {currency} completed",
    NotificationKind.CASHOUT_CANCELLED: "Cash-out of {amount} {currency} cancelled",
    NotificationKind.CASHOUT_EXPIRED: "Cash-out of {amount} {currency} expired",
    NotificationKind.REVERSAL_DEBITED: "{amount} {currency} reversed out of your wallet",
    NotificationKind.REVERSAL_CREDITED: "{amount} {currency} returned to your wallet",
}


def subject_for(kind: str, payload: dict[str, str]) -> str:
    template = SUBJECTS.get(NotificationKind(kind), "Digital Wallet notification")
    return template.format_map(_Missing(payload))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification to send after commit, written in the same unit of work as the change."""

    id: UUID
    kind: str
    user_id: UUID
    created_at: datetime
    payload: Mapping[str, str] = field(default_factory=dict)
    dispatched_at: datetime | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    #: After a failed delivery: not to be dispatched again before this time (backoff).
    next_attempt_at: datetime | None = None
