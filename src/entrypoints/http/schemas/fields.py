"""The constrained field types every body shares (patterns the OpenAPI document states),
and the strict base."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from entrypoints.http.schema_marks import CONFIGURED
from wallet_core.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

#: PostgreSQL text cannot hold U+0000, so text that is stored or looked up must not contain it.
NO_NUL = r"^[^\x00]*$"
#: Python's whitespace (what ``str.strip`` removes), spelled out: JSON Schema's ``\s`` differs.
_WHITESPACE = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Not blank: at least one character that is neither NUL nor whitespace (the core strips text).
NOT_BLANK = rf"^[^\x00]*[^\x00{_WHITESPACE}][^\x00]*$"
#: What the core's normal forms accept (wallet_core.users), so the document states exactly what
#: the server takes: an address with one ``@`` and a dot after it; 3-150 letters, digits and
#: ``_ . @ + -``; E.164 digits, ``+`` or ``00`` optional, with spaces, dots, dashes and
#: parentheses allowed between them. Space, tab and line breaks around a value are allowed.
#: Character classes are spelled out, never ``\s``: JSON Schema patterns are ECMA-262 regexes,
#: whose ``\s`` differs from Python's, and msgspec checks these same patterns in Python.
SPACE = r"[ \t\n\r]*"
#: Not ``@``, and nothing Python counts as whitespace or a control character.
_ADDRESS = r"[^@\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+"
EMAIL_PATTERN = rf"^{SPACE}{_ADDRESS}@{_ADDRESS}\.{_ADDRESS}{SPACE}$"
USERNAME_PATTERN = rf"^{SPACE}[A-Za-z0-9_.@+-]{{3,150}}{SPACE}$"
_SEP = r"[ \t\n\r().-]*"
PHONE_PATTERN = rf"^{_SEP}(0{_SEP}0{_SEP})?(\+{_SEP})?[1-9]({_SEP}[0-9]){{7,14}}{_SEP}$"
Email = Annotated[
    str, Meta(min_length=3, max_length=254, pattern=EMAIL_PATTERN, examples=["alice@example.com"])
]
Username = Annotated[
    str, Meta(min_length=3, max_length=150, pattern=USERNAME_PATTERN, examples=["alice"])
]
#: A password being checked (logging in, the current one): anything non-empty.
Password = Annotated[str, Meta(min_length=1, max_length=256, examples=["correct horse battery"])]
#: A password being chosen. The document states the policy's length, but a shorter one is not a
#: malformed body: like one that is all digits, common, or like the email or username, it is a
#: 422 ``weak_password`` from the core's policy.
NewPassword = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_PASSWORD_LENGTH,
        examples=["correct horse battery"],
        extra_json_schema={"extra": {"minLength": MIN_PASSWORD_LENGTH}},
    ),
]
Phone = Annotated[
    str,
    Meta(
        min_length=8,
        max_length=32,
        pattern=PHONE_PATTERN,
        description="E.164, `+` optional; stored as `+` and 8-15 digits.",
        examples=["+14155550123"],
    ),
]
Name = Annotated[str, Meta(max_length=150, pattern=NO_NUL)]
# Any string reaches the core, which refuses what is not a positive amount in the currency's
# digits with 422 invalid_amount; only a non-string (e.g. a JSON number) is a malformed body (400).
Amount = Annotated[
    str,
    Meta(
        description='A positive decimal string in the currency\'s units, e.g. "12.50"; at most '
        "15 integer digits and the currency's minor-unit digits.",
        examples=["12.50"],
    ),
]
#: A currency code in a request: the document lists the configured codes (see
#: ``entrypoints.http.openapi.CurrencySchemaPlugin``).
CurrencyCode = Annotated[str, Meta(min_length=3, max_length=3, examples=["USD"]), CONFIGURED]
#: A currency code as a provider sends it: checked against the configured codes only when the
#: notification moves money (422 ``unsupported_currency``).
ProviderCurrencyCode = Annotated[str, Meta(min_length=3, max_length=3, examples=["USD"])]
Description = Annotated[str, Meta(max_length=140, pattern=NO_NUL)]
MetadataKey = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.\-]{1,40}$")]
MetadataValue = Annotated[str, Meta(max_length=500, pattern=NO_NUL)]
Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Meta(
        max_length=20,
        description="Your own key/value strings: at most 20 keys of 1-40 characters "
        "`[A-Za-z0-9_.-]`, values of at most 500 characters. Set at creation, never changed.",
        examples=[{"order_id": "A-1042"}],
    ),
]


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    """Request bodies: unknown fields are a 400, not silently ignored."""
