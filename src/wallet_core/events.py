"""The notification events use cases write to the outbox, and what their emails say."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
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


#: Payload keys that hold a secret: scrubbed from the outbox once the email is sent.
SECRET_PAYLOAD_KEYS = frozenset({"withdrawal_code"})

#: Subject lines, with ``{placeholders}`` from the event payload.
SUBJECTS: dict[EventKind, str] = {
    EventKind.DEPOSIT_RECEIVED: "Deposit received: {amount} {currency}",
    EventKind.TRANSFER_SENT: "You sent {amount} {currency} to {recipient}",
    EventKind.TRANSFER_RECEIVED: "{sender} sent you {amount} {currency}",
    EventKind.TRANSFER_ACCEPTED: "{recipient} accepted your transfer of {amount} {currency}",
    EventKind.TRANSFER_REJECTED: "{recipient} rejected your transfer of {amount} {currency}",
    EventKind.TRANSFER_CANCELLED: "{sender} cancelled a transfer of {amount} {currency}",
    EventKind.TRANSFER_EXPIRED: "Transfer {reference} of {amount} {currency} expired",
    EventKind.CASHOUT_REQUESTED: "Your cash-out code for {amount} {currency}",
    EventKind.CASHOUT_COMPLETED: "Cash-out of {amount} {currency} completed",
    EventKind.CASHOUT_CANCELLED: "Cash-out of {amount} {currency} cancelled",
    EventKind.CASHOUT_EXPIRED: "Cash-out of {amount} {currency} expired",
}


def subject_for(kind: str, payload: dict[str, str]) -> str:
    template = SUBJECTS.get(EventKind(kind), "Digital Wallet notification")
    return template.format_map(_Missing(payload))


class _Missing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""
