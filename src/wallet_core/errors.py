"""One tree of domain errors, each with the stable machine-readable ``code`` of the API contract.

The category classes (``NotFound``, ``Conflict``...) say what kind of failure it is; the HTTP layer
maps categories to status codes in one place, so the core never speaks HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending input field, for validation errors."""

    field: str
    message: str


class DomainError(Exception):
    code: str = "error"
    default_message: str = "The request could not be completed."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


# Categories -------------------------------------------------------------------------------------


class InvalidInput(DomainError):
    code = "validation_error"
    default_message = "The request is invalid."

    def __init__(self, message: str | None = None, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors)


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    default_message = "Authentication credentials were missing or invalid."


class PermissionDenied(DomainError):
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class BusinessRuleViolation(DomainError):
    code = "unprocessable"
    default_message = "The request breaks a business rule."


class RateLimited(DomainError):
    code = "rate_limited"
    default_message = "Too many requests."

    def __init__(self, message: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# Invalid input (400) ----------------------------------------------------------------------------


class ValidationFailed(InvalidInput):
    code = "validation_error"


class IdempotencyKeyMissing(InvalidInput):
    code = "idempotency_key_missing"
    default_message = "An idempotency key is required on this endpoint."


class IdempotencyKeyInvalid(InvalidInput):
    code = "idempotency_key_invalid"
    default_message = "An idempotency key must be 1-255 printable ASCII characters."


# Not authenticated (401) ------------------------------------------------------------------------


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    default_message = "The email/username or password is wrong."


class TokenRevoked(NotAuthenticated):
    code = "token_revoked"
    default_message = "This token has been revoked."


class InvalidSignature(NotAuthenticated):
    code = "invalid_signature"
    default_message = "The webhook signature is missing or does not match."


class StaleSignature(NotAuthenticated):
    code = "stale_signature"
    default_message = "The webhook signature timestamp is outside the tolerance."


# Forbidden (403) --------------------------------------------------------------------------------


class IpNotAllowed(PermissionDenied):
    code = "ip_not_allowed"
    default_message = "The source IP address is not allowed."


class WalletFrozen(PermissionDenied):
    code = "wallet_frozen"
    default_message = "The wallet is frozen."


# Conflict (409) ---------------------------------------------------------------------------------


class NotPending(Conflict):
    code = "not_pending"
    default_message = "The transaction is no longer pending."


class NotReversible(Conflict):
    code = "not_reversible"
    default_message = "Only completed deposits, withdrawals and transfers can be reversed."


class AlreadyExists(Conflict):
    code = "already_exists"
    default_message = "It already exists."


class IdempotencyKeyInProgress(Conflict):
    code = "idempotency_key_in_progress"
    default_message = "A request with this idempotency key is still being processed."


# Business rules (422) ---------------------------------------------------------------------------


class InsufficientFunds(BusinessRuleViolation):
    code = "insufficient_funds"
    default_message = "Insufficient funds."


class InvalidAmount(BusinessRuleViolation):
    code = "invalid_amount"
    default_message = "The amount is invalid."


class UnsupportedCurrency(BusinessRuleViolation):
    code = "unsupported_currency"
    default_message = "The currency is not supported."


class CurrencyMismatch(BusinessRuleViolation):
    code = "currency_mismatch"
    default_message = "Both wallets must hold the same currency."


class SameWallet(BusinessRuleViolation):
    code = "same_wallet"
    default_message = "A transfer needs two different wallets."


class Expired(BusinessRuleViolation):
    code = "expired"
    default_message = "The transaction has expired."


class InvalidWithdrawalCode(BusinessRuleViolation):
    code = "invalid_withdrawal_code"
    default_message = "The withdrawal code is not valid."


class TooManyAttempts(BusinessRuleViolation):
    code = "too_many_attempts"
    default_message = "Too many wrong withdrawal codes: the cash-out was cancelled."


class IdempotencyKeyReused(BusinessRuleViolation):
    code = "idempotency_key_reused"
    default_message = "This idempotency key was already used with a different request."


class RecipientNotFound(BusinessRuleViolation):
    code = "recipient_not_found"
    default_message = "No active recipient matches."


class WeakPassword(BusinessRuleViolation):
    code = "weak_password"
    default_message = "The password is too weak."


class ServiceUnavailable(DomainError):
    """A dependency of ours is down: not the client's fault, and worth retrying shortly."""

    code = "service_unavailable"
    default_message = "The service is temporarily unavailable; retry shortly."


class LedgerInvariantViolated(DomainError):
    """A bug, never a client error: the ledger refused a movement that would break an invariant."""

    code = "ledger_invariant_violated"
    default_message = "Ledger invariant violated."


class TooManyEndpoints(BusinessRuleViolation):
    code = "too_many_endpoints"
    default_message = "You have the most webhook endpoints allowed."
