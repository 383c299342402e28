"""Users, their identifiers' normal forms, and the password policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from difflib import SequenceMatcher
from uuid import UUID

from wallet_core.common_passwords import COMMON_PASSWORDS
from wallet_core.errors import FieldError, ValidationFailed, WeakPassword

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
_SIMILARITY_THRESHOLD = 0.7

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{3,150}$")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True, slots=True)
class User:
    id: UUID
    email: str
    username: str
    phone_number: str
    password_hash: str
    created_at: datetime
    updated_at: datetime
    first_name: str = ""
    last_name: str = ""
    date_of_birth: date | None = None
    is_staff: bool = False
    is_active: bool = True


def normalize_email(value: str) -> str:
    """Emails are compared case-insensitively, so they are stored lower-cased."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed(
            "Enter a valid email address.", [FieldError("email", "not a valid email address")]
        )
    return email


def normalize_username(value: str) -> str:
    username = value.strip()
    if not _USERNAME.match(username):
        raise ValidationFailed(
            "Usernames are 3-150 letters, digits and _ . @ + - characters.",
            [FieldError("username", "3-150 letters, digits and _ . @ + - only")],
        )
    return username


def normalize_phone(value: str, field: str = "phone_number") -> str:
    """E.164: ``+`` and 8-15 digits, the first not zero. ``+`` is optional on input."""
    raw = _PHONE_SEPARATORS.sub("", value.strip())
    if raw.startswith("00"):
        raw = raw[2:]
    digits = raw[1:] if raw.startswith("+") else raw
    if not (digits.isascii() and digits.isdigit() and 8 <= len(digits) <= 15) or digits[0] == "0":
        raise ValidationFailed(
            "Enter a phone number in international (E.164) form, e.g. +14155550123.",
            [FieldError(field, "not an E.164 phone number")],
        )
    return "+" + digits


def check_password(password: str, *, email: str, username: str) -> None:
    """The password policy: long, not all digits, not common, not like the user's identifiers."""
    problems: list[str] = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"it must be at least {MIN_PASSWORD_LENGTH} characters long")
    if len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"it must be at most {MAX_PASSWORD_LENGTH} characters long")
    if password.isdigit():
        problems.append("it cannot be entirely numeric")
    lowered = password.lower()
    if lowered in COMMON_PASSWORDS:
        problems.append("it is too common")
    if _too_similar(lowered, email=email.lower(), username=username.lower()):
        problems.append("it is too similar to the email or username")
    if problems:
        raise WeakPassword("The password is too weak: " + "; ".join(problems) + ".")


def _too_similar(password: str, *, email: str, username: str) -> bool:
    local = email.partition("@")[0]
    for attribute in {username, local, email}:
        if len(attribute) < 3:
            continue
        if password in attribute or (attribute in password and 2 * len(attribute) >= len(password)):
            return True
        if SequenceMatcher(a=password, b=attribute).quick_ratio() >= _SIMILARITY_THRESHOLD and (
            SequenceMatcher(a=password, b=attribute).ratio() >= _SIMILARITY_THRESHOLD
        ):
            return True
    return False
