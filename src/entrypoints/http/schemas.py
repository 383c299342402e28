"""Request and response bodies as msgspec Structs: unknown fields are refused, types are strict
(an amount must be a string), and PATCH fields use ``UNSET`` so "absent" differs from null."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from entrypoints.http.schema_marks import CONFIGURED, Exclusive
from wallet_core.ledger import FundingSource, TransferStatus, TransferType
from wallet_core.users import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH

#: PostgreSQL text cannot hold U+0000, so text that is stored or looked up must not contain it.
NO_NUL = r"^[^\x00]*$"
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


# Auth and users ---------------------------------------------------------------------------------


class RegisterRequest(Strict):
    email: Email
    username: Username
    password: NewPassword
    phone_number: Phone
    first_name: Name = ""
    last_name: Name = ""
    date_of_birth: date | None = None
    currency: CurrencyCode | None = None


Login = Annotated[str, Meta(min_length=1, max_length=254, pattern=NO_NUL)]


class TokenRequest(Strict):
    """Exactly one of ``email`` and ``username``, with the password."""

    __schema_extra__: ClassVar[Exclusive] = Exclusive(
        one_of={"EmailLogin": "email", "UsernameLogin": "username"}
    )

    password: Password
    email: Login | UnsetType = UNSET
    username: Login | UnsetType = UNSET


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=512)]


class ProfileUpdate(Strict):
    """A new ``password`` needs ``current_password``."""

    __schema_extra__: ClassVar[Exclusive] = Exclusive(requires={"password": ("current_password",)})

    first_name: Name | UnsetType = UNSET
    last_name: Name | UnsetType = UNSET
    date_of_birth: date | UnsetType | None = UNSET
    password: NewPassword | UnsetType = UNSET
    current_password: Password | UnsetType = UNSET


class TokenPairResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class UserResponse(msgspec.Struct):
    id: UUID
    email: str
    username: str
    phone_number: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    is_staff: bool
    created_at: datetime


class StaffUserResponse(UserResponse):
    """A user's profile as staff see it."""

    is_active: bool


class AccessUpdate(Strict):
    """Staff only. Absent fields stay as they are; deactivating a user or taking their staff
    role ends all their sessions."""

    is_active: bool | UnsetType = UNSET
    is_staff: bool | UnsetType = UNSET


# Wallets ----------------------------------------------------------------------------------------


class Owner(msgspec.Struct):
    id: UUID
    username: str


class WalletResponse(msgspec.Struct):
    id: UUID
    owner: Owner
    currency: str
    balance: str
    available_balance: str
    held_balance: str
    pending_incoming: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class RegisterResponse(msgspec.Struct):
    user: UserResponse
    wallet: WalletResponse


class OpenWalletRequest(Strict):
    currency: CurrencyCode


class WalletUpdate(Strict):
    is_active: bool


# Transactions -----------------------------------------------------------------------------------


class TransferCreate(Strict, tag="transfer", tag_field="type"):
    amount: Amount
    recipient: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=255,
            pattern=NO_NUL,
            description="A username, an E.164 phone number or a wallet id.",
        ),
    ]
    wallet_id: UUID | None = None
    description: Description | None = None
    metadata: Metadata | None = None


class WithdrawalCreate(Strict, tag="withdrawal", tag_field="type"):
    amount: Amount
    wallet_id: UUID | None = None
    description: Description | None = None
    metadata: Metadata | None = None


class DepositCreate(Strict, tag="deposit", tag_field="type"):
    amount: Amount
    wallet_id: UUID
    funding_source: Literal["manual"] = "manual"
    description: Description | None = None
    metadata: Metadata | None = None


TransactionCreate = TransferCreate | WithdrawalCreate | DepositCreate


class TransactionAction(Strict):
    action: Literal["accept", "reject", "cancel"]


class ReversalRequest(Strict):
    """Staff only. ``amount`` defaults to what is left to reverse."""

    reason: Annotated[str, Meta(min_length=1, max_length=140, pattern=NO_NUL)]
    amount: Amount | None = None


class PartyResponse(msgspec.Struct):
    user_id: UUID
    username: str
    wallet_id: UUID


class _Transaction(msgspec.Struct, kw_only=True):
    """Every transaction's fields but ``type``, which names the variant of a created one."""

    id: UUID
    status: TransferStatus
    amount: str
    currency: str
    funding_source: FundingSource
    reference: str
    description: str
    wallet_id: UUID
    counterparty_wallet_id: UUID | None
    sender: PartyResponse | None
    recipient: PartyResponse | None
    metadata: dict[str, str]
    #: For a reversal, the transaction it reverses.
    reverses: UUID | None
    #: How much of this transaction has been reversed so far.
    reversed_amount: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    completed_at: datetime | None


class TransactionResponse(_Transaction, kw_only=True):
    type: TransferType


class TransferCreated(_Transaction, tag="transfer", tag_field="type", kw_only=True):
    """A transfer just sent: pending, its amount held on the sender's wallet."""


class WithdrawalCreated(_Transaction, tag="withdrawal", tag_field="type", kw_only=True):
    """A cash-out just requested: pending, with the one-time code the ATM asks for."""

    withdrawal_code: str


class DepositCreated(_Transaction, tag="deposit", tag_field="type", kw_only=True):
    """A staff deposit: completed at once."""


#: The 201 of ``POST /wallet/transactions``, discriminated by ``type``.
TransactionCreated = TransferCreated | WithdrawalCreated | DepositCreated


# Statements -------------------------------------------------------------------------------------


class EntryResponse(msgspec.Struct):
    id: UUID
    transaction_id: UUID
    type: TransferType
    reference: str
    description: str
    #: Signed: "-25.50" for a debit, "100.00" for a credit.
    amount: str
    balance_after: str
    posted_at: datetime


class BalanceResponse(msgspec.Struct):
    wallet_id: UUID
    currency: str
    at: datetime
    balance: str


class StatementResponse(msgspec.Struct, rename={"start": "from", "end": "to"}):
    wallet_id: UUID
    currency: str
    start: datetime
    end: datetime
    opening_balance: str
    closing_balance: str
    total_credits: str
    total_debits: str
    entry_count: int


# Pages ------------------------------------------------------------------------------------------


class UserPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[UserResponse]
    next_cursor: str | None = None


class WalletPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[WalletResponse]
    next_cursor: str | None = None


class EntryPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[EntryResponse]
    next_cursor: str | None = None


class TransactionPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[TransactionResponse]
    next_cursor: str | None = None


# Webhooks ---------------------------------------------------------------------------------------


class PaysendRecipient(msgspec.Struct):
    phone_number: Phone
    amount: Amount
    currency: ProviderCurrencyCode | None = None


class PaysendNotification(msgspec.Struct):
    """Paysend may add fields over time; unknown top-level fields are tolerated."""

    # Paysend's own field name.
    transactionId: Annotated[str, Meta(min_length=1, max_length=255, pattern=NO_NUL)]  # noqa: N815
    status: Annotated[str, Meta(min_length=1, max_length=64)]
    recipient: PaysendRecipient


class CashoutVerification(msgspec.Struct):
    """The ATM network's verification request (extra fields from the network are tolerated)."""

    phone_number: Phone
    withdrawal_code: Annotated[str, Meta(min_length=1, max_length=64)]


class WebhookResult(msgspec.Struct, omit_defaults=True):
    status: Literal["processed", "ignored", "approved"]
    transaction_id: UUID | None = None
    amount: str | None = None
    currency: str | None = None


class HealthResponse(msgspec.Struct):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = msgspec.field(default_factory=dict)


# Events -----------------------------------------------------------------------------------------

EventTypeName = Literal[
    "transaction.created",
    "transaction.completed",
    "transaction.rejected",
    "transaction.cancelled",
    "transaction.expired",
    "transaction.reversed",
    "wallet.updated",
]


class EventData(msgspec.Struct, omit_defaults=True):
    """The object the event is about, as of the event: a transaction or a wallet."""

    transaction: TransactionResponse | UnsetType = UNSET
    wallet: WalletResponse | UnsetType = UNSET


class EventResponse(msgspec.Struct):
    id: UUID
    type: EventTypeName
    created_at: datetime
    data: EventData


class EventPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[EventResponse]
    next_cursor: str | None = None


# Webhook endpoints ------------------------------------------------------------------------------

WebhookUrl = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=2048,
        pattern=NO_NUL,
        description="Where events are POSTed: https:// (http:// too outside production); its "
        "host must resolve to public addresses only.",
        examples=["https://hooks.example.com/wallet"],
    ),
]
EventTypeList = Annotated[
    list[Annotated[str, Meta(max_length=64)]],
    Meta(
        min_length=1,
        max_length=16,
        description='Event types to receive, or ["*"] for all.',
        examples=[["transaction.completed", "wallet.updated"]],
    ),
]
EndpointDescription = Annotated[str, Meta(max_length=200, pattern=NO_NUL)]


class WebhookEndpointCreate(Strict):
    url: WebhookUrl
    event_types: EventTypeList
    description: EndpointDescription | None = None


class WebhookEndpointUpdate(Strict):
    url: WebhookUrl | UnsetType = UNSET
    event_types: EventTypeList | UnsetType = UNSET
    description: EndpointDescription | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class WebhookEndpointResponse(msgspec.Struct):
    id: UUID
    url: str
    event_types: list[str]
    description: str
    is_active: bool
    created_at: datetime


class WebhookEndpointWithSecret(msgspec.Struct):
    """Only at creation and rotation: the signing secret is never shown again."""

    id: UUID
    url: str
    event_types: list[str]
    description: str
    is_active: bool
    created_at: datetime
    secret: Annotated[str, Meta(examples=["whsec_3yqk1Nq2pX9cT4m8h5ZbV7wR0dLsJfEa6uGoIeKrCnA"])]


class WebhookEndpointPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[WebhookEndpointResponse]
    next_cursor: str | None = None


class DeliveryResponse(msgspec.Struct):
    id: UUID
    event_id: UUID
    event_type: EventTypeName
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(msgspec.Struct):
    count: int | None
    next: str | None
    previous: str | None
    results: list[DeliveryResponse]
    next_cursor: str | None = None
