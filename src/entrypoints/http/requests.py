"""The request class: strict JSON bodies, and client errors (not crashes) for hostile ones."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import HTTPException, SerializationException, ValidationException


class UnsupportedMediaType(HTTPException):
    status_code = 415


NOT_JSON = (
    "The request body must be JSON: send Content-Type: application/json "
    "(or application/*+json), with no charset or charset=utf-8."
)


def is_json_media_type(media_type: str, options: dict[str, str]) -> bool:
    """``application/json`` or ``application/*+json``, optionally ``charset=utf-8``."""
    kind, _, subtype = media_type.strip().lower().partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    charset = options.get("charset")
    return charset is None or charset.strip().strip('"').lower() in ("utf-8", "utf8")


class JsonRequest(Request[Any, Any, Any]):
    """Malformed JSON is a 400, never a crash, and a JSON value of the wrong type is a 400.

    Litestar turns ``msgspec.DecodeError`` into a client error, but msgspec raises
    ``RecursionError`` past its nesting limit and ``UnicodeDecodeError`` on invalid UTF-8 inside
    a string, which would otherwise be 500s.

    Litestar converts the decoded body to the handler's ``data`` type in msgspec's lax mode (made
    for query strings), which coerces ``0`` and ``"true"`` into booleans. docs/api.md wants wrong
    types refused, so the body is first checked against that type in strict mode.

    A body is parsed only when it says it is JSON, or says nothing (no ``Content-Type``); any
    other media type is a 415. Webhooks read the raw body for its signature first, so there the
    415 comes after the IP and signature checks.
    """

    async def json(self) -> Any:
        if self.headers.get("content-type") is not None and not is_json_media_type(
            *self.content_type
        ):
            raise UnsupportedMediaType(NOT_JSON)
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
