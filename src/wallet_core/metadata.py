"""Transaction metadata: the client's own key/value strings (their order ids, tags), set when a
transaction is created and never changed. Bounded so one transaction cannot carry a document."""

from __future__ import annotations

import re
from collections.abc import Mapping

from wallet_core.errors import FieldError, ValidationFailed

MAX_KEYS = 20
MAX_KEY_LENGTH = 40
MAX_VALUE_LENGTH = 500
KEY = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_KEY_LENGTH}}}")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(message, [FieldError("metadata", message)])


def check_key(key: object) -> str:
    if not isinstance(key, str) or not KEY.fullmatch(key):
        raise _refuse(
            f"Metadata keys are 1-{MAX_KEY_LENGTH} characters of letters, digits, '_', '.' and '-'."
        )
    return key


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """The metadata to store, or a 400 ``validation_error`` saying what is wrong with it."""
    if metadata is None:
        return {}
    if len(metadata) > MAX_KEYS:
        raise _refuse(f"At most {MAX_KEYS} metadata keys.")
    checked: dict[str, str] = {}
    for key, value in metadata.items():
        check_key(key)
        if not isinstance(value, str):
            raise _refuse("Metadata values are strings.")
        if len(value) > MAX_VALUE_LENGTH or "\x00" in value:
            raise _refuse(f"Metadata values are strings of at most {MAX_VALUE_LENGTH} characters.")
        checked[key] = value
    return checked


def metadata_filter(pairs: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """``metadata[key]=value`` query filters: every key valid; one value per key."""
    found: dict[str, str] = {}
    for key, value in pairs:
        check_key(key)
        if key in found and found[key] != value:
            raise _refuse(f"metadata[{key}] is given twice with different values.")
        found[key] = value
    return tuple(sorted(found.items()))
