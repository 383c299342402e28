"""Users' identifiers in normal form, and the password policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet_core.common_passwords import COMMON_PASSWORDS
from wallet_core.errors import ValidationFailed, WeakPassword
from wallet_core.users import (
    MIN_PASSWORD_LENGTH,
    check_password,
    normalize_email,
    normalize_phone,
    normalize_username,
)

# Email ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("alice@example.com", "alice@example.com"),
        ("  Alice@Example.COM ", "alice@example.com"),
        ("first.last+tag@mail.example.co.uk", "first.last+tag@mail.example.co.uk"),
    ],
)
def test_email_is_lower_cased_and_trimmed(raw: str, normal: str) -> None:
    assert normalize_email(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "alice@example",
        "al ice@example.com",
        "alice@@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_email_refuses_invalid_addresses(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_email(raw)
    assert caught.value.code == "validation_error"
    assert [e.field for e in caught.value.errors] == ["email"]


# Username -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("alice", "alice"),
        ("  Alice_1 ", "Alice_1"),
        ("a.b@c+d-e", "a.b@c+d-e"),
        ("x" * 150, "x" * 150),
    ],
)
def test_username_keeps_its_case_and_loses_surrounding_space(raw: str, normal: str) -> None:
    assert normalize_username(raw) == normal


@pytest.mark.parametrize("raw", ["", "ab", "has space", "semi;colon", "ünïcode", "x" * 151])
def test_username_refuses_bad_names(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_username(raw)
    assert [e.field for e in caught.value.errors] == ["username"]


# Phone numbers (E.164) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("+14155550100", "+14155550100"),
        ("14155550100", "+14155550100"),
        ("+1 415 555 0100", "+14155550100"),
        ("+1 (415) 555-0100", "+14155550100"),
        ("1.415.555.0100", "+14155550100"),
        ("0014155550100", "+14155550100"),
        ("00 44 20 7946 0958", "+442079460958"),
        (" +96170123456 ", "+96170123456"),
        ("12345678", "+12345678"),  # 8 digits: the shortest accepted
        ("123456789012345", "+123456789012345"),  # 15 digits: the longest
    ],
)
def test_phone_is_normalised_to_e164(raw: str, normal: str) -> None:
    assert normalize_phone(raw) == normal


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "+",
        "1234567",  # too short
        "1234567890123456",  # too long
        "+04155550100",  # leading zero after +
        "04155550100",  # a national number, not international
        "+00 4155550100",  # 00 after + is not an international prefix
        "+1 415 555 010O",  # a letter O
        "+1/415/555/0100",
        "++14155550100",
        "+١٤١٥٥٥٥٠١٠٠",  # non-ASCII digits
    ],
)
def test_phone_refuses_non_e164_numbers(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_phone(raw)
    assert [e.field for e in caught.value.errors] == ["phone_number"]


def test_phone_error_names_the_given_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_phone("nope", "recipient")
    assert [e.field for e in caught.value.errors] == ["recipient"]


@given(
    first=st.integers(1, 9),
    rest=st.text(alphabet="0123456789", min_size=7, max_size=14),
    plus=st.booleans(),
)
def test_phone_normal_form_is_stable(first: int, rest: str, plus: bool) -> None:
    digits = f"{first}{rest}"
    normal = normalize_phone(("+" if plus else "") + digits)
    assert normal == "+" + digits
    assert normalize_phone(normal) == normal


# Password policy ------------------------------------------------------------------------------


def weakness(password: str, *, email: str = "alice@example.com", username: str = "alice") -> str:
    with pytest.raises(WeakPassword) as caught:
        check_password(password, email=email, username=username)
    assert caught.value.code == "weak_password"
    return caught.value.message


@pytest.mark.parametrize(
    "password",
    ["correct horse battery staple", "Tr0ub4dor&3xyz", "x" * MIN_PASSWORD_LENGTH, "9 lives cat"],
)
def test_good_passwords_pass(password: str) -> None:
    check_password(password, email="alice@example.com", username="alice")


def test_password_must_be_long_enough() -> None:
    assert "at least 10 characters" in weakness("Sh0rt!pw")
    assert "at least 10 characters" in weakness("x" * (MIN_PASSWORD_LENGTH - 1))


def test_password_must_not_be_too_long() -> None:
    assert "at most" in weakness("x" * 257)


def test_password_must_not_be_all_digits() -> None:
    assert "entirely numeric" in weakness("83749201736")


@pytest.mark.parametrize("password", ["password123", "PASSWORD123", "qwertyuiop", "1q2w3e4r5t"])
def test_password_must_not_be_common(password: str) -> None:
    assert "too common" in weakness(password)


def test_common_list_is_lower_case() -> None:
    # Lookups lower-case the password, so an entry with a capital letter could never match.
    assert COMMON_PASSWORDS
    assert all(p == p.lower() for p in COMMON_PASSWORDS)


@pytest.mark.parametrize(
    ("password", "email", "username"),
    [
        ("alexander1", "alex@example.com", "alexander"),  # contains the username
        ("Alexandra99", "x@example.com", "alexander"),  # close to the username
        ("jsmith2026x", "j.smith@example.com", "jsmith"),
        ("alice@example.com", "alice@example.com", "zz"),  # is the email
        ("wonderland1", "wonderland@example.com", "zz"),  # close to the email's local part
    ],
)
def test_password_must_not_resemble_the_email_or_username(
    password: str, email: str, username: str
) -> None:
    assert "too similar" in weakness(password, email=email, username=username)


def test_every_problem_is_reported_at_once() -> None:
    message = weakness("123")
    assert "at least 10 characters" in message
    assert "entirely numeric" in message
