"""A real SMTP server for tests (aiosmtpd), collecting what arrives."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from servers import free_port


@dataclass
class Mailbox:
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]

    def subjects(self, address: str) -> list[str]:
        return sorted(str(m["Subject"]) for m in self.to(address))

    async def wait_for(self, count: int, addresses: set[str], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(1 for m in self.messages if m["To"] in addresses) >= count:
                return
            await asyncio.sleep(0.05)
        got = [(m["To"], m["Subject"]) for m in self.messages if m["To"] in addresses]
        raise AssertionError(f"expected {count} emails, got {len(got)}: {got}")


def text_of(message: Message) -> str:
    parts = [
        part.get_payload(decode=True).decode()  # type: ignore[union-attr]
        for part in message.walk()
        if part.get_content_type() in ("text/plain", "text/html")
    ]
    return "\n".join(parts)


@contextmanager
def running(mailbox: Mailbox, port: int | None = None) -> Iterator[int]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()
