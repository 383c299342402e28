"""Delivery over SMTP with aiosmtplib: one multipart (text + HTML) message per email."""

from __future__ import annotations

import email.message
from email.utils import formatdate, parseaddr

import aiosmtplib

from wallet_core.ports import EmailMessage


class EmailDeliveryError(Exception):
    """The SMTP server could not be reached or did not take the message.

    Raised so the caller leaves the outbox event unsent and retries later with backoff.
    ``permanent`` is set when the server answered with a 5xx code, where retrying the same
    message is unlikely to help (the caller may still retry, e.g. after a configuration fix).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmtpNotifier:
    """A ``Notifier`` that hands each message to an SMTP server.

    STARTTLS and AUTH happen only when configured: aiosmtplib would otherwise upgrade to TLS
    whenever the server offers it, which breaks against local relays with self-signed certs.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        sender: str = "Digital Wallet <no-reply@localhost>",
        timeout: float = 10.0,
    ) -> None:
        if (username is None) != (password is None):
            raise ValueError("SMTP username and password go together: set both or neither.")
        if "@" not in parseaddr(sender)[1]:
            raise ValueError(f"Not a sender address: {sender!r}")
        self._host = host
        self._port = port
        self._username = username
        self._password = password
        self._starttls = starttls
        self._sender = sender
        self._timeout = timeout

    async def send(self, message: EmailMessage) -> None:
        mime = to_mime(message, self._sender)
        try:
            await aiosmtplib.send(
                mime,
                sender=parseaddr(self._sender)[1],
                recipients=[message.to],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                start_tls=self._starttls,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients]
            raise EmailDeliveryError(
                f"SMTP server refused {message.to}: {codes}",
                permanent=all(code >= 500 for code in codes),
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise EmailDeliveryError(
                f"SMTP server refused the message: {exc.code} {exc.message}",
                permanent=exc.code >= 500,
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise EmailDeliveryError(
                f"SMTP server {self._host}:{self._port} unreachable: {exc}"
            ) from exc


def to_mime(message: EmailMessage, sender: str) -> email.message.EmailMessage:
    """The wire form: multipart/alternative, plain text first so HTML is preferred."""
    mime = email.message.EmailMessage()
    mime["From"] = sender
    mime["To"] = message.to
    mime["Subject"] = message.subject
    mime["Message-ID"] = message_id_header(message.message_id, sender)
    mime["Date"] = formatdate(usegmt=True)
    mime.set_content(message.text)
    mime.add_alternative(message.html, subtype="html")
    return mime


def message_id_header(message_id: str, sender: str) -> str:
    """``<event-id@sender-domain>``, so a bounce or a log line leads back to the outbox event."""
    if message_id.startswith("<") and message_id.endswith(">"):
        return message_id
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    return f"<{message_id}@{domain}>"
