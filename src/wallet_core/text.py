"""Free text a client sends (a description): trimmed, and refused past its limit."""

from __future__ import annotations

from wallet_core.errors import FieldError, ValidationFailed

#: A transaction's description (the API's limit).
MAX_DESCRIPTION = 140


def check_description(description: str | None, limit: int = MAX_DESCRIPTION) -> str:
    text = (description or "").strip()
    if len(text) > limit:
        raise ValidationFailed(
            f"The description has at most {limit} characters.",
            [FieldError("description", f"at most {limit} characters")],
        )
    return text
