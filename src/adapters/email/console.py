"""Development delivery: emails go to the log instead of a mail server."""

from __future__ import annotations

import structlog

from wallet_core.ports import EmailMessage

_log = structlog.get_logger(__name__)


class ConsoleNotifier:
    """A ``Notifier`` that logs each message (recipient, subject, plain text).

    For local development only: the text is logged verbatim, withdrawal codes included, so a
    developer can complete a cash-out without a mail server.
    """

    async def send(self, message: EmailMessage) -> None:
        _log.info(
            "email.sent",
            to=message.to,
            subject=message.subject,
            message_id=message.message_id,
            text=message.text,
        )
