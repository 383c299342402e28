"""The request body as it arrives: slow clients are cut off, departed ones are noticed.

The server (granian) limits how long the request headers may take; nothing limits the body, so
a client announcing ``Content-Length: 1000`` and sending 9 bytes would hold a connection and a
task forever. ``BodyReader`` wraps the ASGI ``receive`` channel: the whole body must arrive
within ``timeout`` seconds of the first read, else the request ends with 408
``request_timeout`` (the server then closes the connection). A client that disconnects before
its response is complete is recorded, so it is logged and counted as 499, never as a 5xx.
"""

from __future__ import annotations

import asyncio

from litestar.exceptions import HTTPException
from litestar.types import Receive, ReceiveMessage


class RequestTimeout(HTTPException):
    status_code = 408


class BodyReader:
    def __init__(self, receive: Receive, timeout: float | None) -> None:
        self._receive = receive
        self._timeout = timeout
        self._deadline: float | None = None
        self.body_complete = False
        self.disconnected = False

    async def __call__(self) -> ReceiveMessage:
        if self.body_complete or self.disconnected or self._timeout is None:
            # After the body only a disconnect can come (a streaming response waits for it).
            message = await self._receive()
        else:
            if self._deadline is None:
                self._deadline = asyncio.get_running_loop().time() + self._timeout
            try:
                # ``timeout_at`` rather than ``wait_for``: no extra task per read.
                async with asyncio.timeout_at(self._deadline):
                    message = await self._receive()
            except TimeoutError:
                raise RequestTimeout("The request body did not arrive in time.") from None
        if message["type"] == "http.disconnect":
            self.disconnected = True
        elif message["type"] == "http.request" and not message.get("more_body", False):
            self.body_complete = True
        return message
