"""The request class: strict JSON bodies, and client errors (not crashes) for hostile ones."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException, ValidationException


class JsonRequest(Request[Any, Any, Any]):
    """Malformed JSON is a 400, never a crash, and a JSON value of the wrong type is a 400.

    Litestar turns ``msgspec.DecodeError`` into a client error, but msgspec raises
    ``RecursionError`` past its nesting limit and ``UnicodeDecodeError`` on invalid UTF-8 inside
    a string, which would otherwise be 500s.

    Litestar converts the decoded body to the handler's ``data`` type in msgspec's lax mode (made
    for query strings), which coerces ``0`` and ``"true"`` into booleans. API.md wants wrong types
    refused, so the body is first checked against that type in strict mode.
    """

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise SerializationException("The JSON body is nested too deeply.") from None
        except UnicodeDecodeError:
            raise SerializationException("The JSON body is not valid UTF-8.") from None
        data_field = self.route_handler.parsed_data_field
        if data_field is not None:
            _refuse_coercions(value, data_field.annotation)
        return value


def _refuse_coercions(value: Any, annotation: Any) -> None:
    """A 400 for a body that only lax conversion accepts (``0`` or ``"true"`` for a boolean).

    Bodies that even lax conversion refuses are left to Litestar, which reports them together
    with the other parameters' errors (a missing ``Idempotency-Key`` keeps its own code).
    """
    try:
        msgspec.convert(value, type=annotation, strict=True)
    except msgspec.ValidationError as strict_error:
        try:
            msgspec.convert(value, type=annotation, strict=False)
        except msgspec.ValidationError:
            return
        message, _, path = str(strict_error).partition(" - at `$")
        raise ValidationException(
            "The request body is invalid.",
            extra=[{"message": message, "key": path.rstrip("`").lstrip(".") or "data"}],
        ) from None
