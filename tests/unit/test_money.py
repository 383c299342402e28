"""Money: decimal strings at the edges, integer minor units inside, never floats."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet_core.errors import CurrencyMismatch, InvalidAmount, UnsupportedCurrency
from wallet_core.money import (
    MAX_INTEGER_DIGITS,
    MAX_MINOR_TOTAL,
    Currencies,
    Currency,
    Money,
    format_minor,
)

USD = Currency("USD", 2)
JPY = Currency("JPY", 0)
KWD = Currency("KWD", 3)
CLF = Currency("CLF", 4)


def largest_minor(currency: Currency) -> int:
    """The largest amount a request may carry: 15 integer digits, below the ledger's ceiling."""
    return min(10 ** (MAX_INTEGER_DIGITS + currency.digits) - 1, MAX_MINOR_TOTAL - 1)


@st.composite
def money(draw: st.DrawFn) -> Money:
    digits = draw(st.integers(min_value=0, max_value=4))
    currency = Currency("XTS", digits)
    return Money(draw(st.integers(1, largest_minor(currency))), currency)


# Parsing and formatting ------------------------------------------------------------------------


@given(money())
def test_parse_inverts_format(m: Money) -> None:
    assert Money.parse(m.format(), m.currency) == m


@given(money())
def test_format_always_carries_the_currency_digits(m: Money) -> None:
    text = m.format()
    whole, _, frac = text.partition(".")
    assert len(frac) == m.currency.digits
    assert whole.isdigit()
    assert not (len(whole) > 1 and whole.startswith("0"))
    assert Decimal(text) * 10**m.currency.digits == m.minor


@given(
    digits=st.integers(0, 4),
    whole=st.integers(0, 10**MAX_INTEGER_DIGITS - 1),
    data=st.data(),
)
def test_parse_reads_any_shorter_fraction(digits: int, whole: int, data: st.DataObject) -> None:
    currency = Currency("XTS", digits)
    frac = data.draw(st.text(alphabet="0123456789", max_size=digits))
    text = f"{whole}.{frac}" if frac else str(whole)
    expected = int((Decimal(text) * 10**digits).to_integral_exact())
    if expected == 0 or expected >= MAX_MINOR_TOTAL:
        with pytest.raises(InvalidAmount):
            Money.parse(text, currency)
    else:
        assert Money.parse(text, currency).minor == expected


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", USD, 1250),
        ("12.5", USD, 1250),
        ("12", USD, 1200),
        ("0.01", USD, 1),
        (" 7.25 ", USD, 725),
        ("0012.00", USD, 1200),
        ("1500", JPY, 1500),
        ("1.234", KWD, 1234),
        ("0.0001", CLF, 1),
        ("999999999999999.99", USD, 99999999999999999),
        ("000000000000000000001", USD, 100),
    ],
)
def test_parse_known_answers(text: str, currency: Currency, minor: int) -> None:
    assert Money.parse(text, currency) == Money(minor, currency)


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (1250, USD, "12.50"),
        (1, USD, "0.01"),
        (0, USD, "0.00"),
        (-1250, USD, "-12.50"),
        (1500, JPY, "1500"),
        (1234, KWD, "1.234"),
        (1, CLF, "0.0001"),
    ],
)
def test_format_known_answers(minor: int, currency: Currency, text: str) -> None:
    assert Money(minor, currency).format() == text
    assert format_minor(minor, currency) == text


def test_str_names_the_currency() -> None:
    assert str(Money(1250, USD)) == "12.50 USD"


@pytest.mark.parametrize("value", [12.5, 12, 0, Decimal("12.50"), None, b"12.50", True, ["1"]])
def test_parse_refuses_anything_but_a_string(value: object) -> None:
    with pytest.raises(InvalidAmount) as caught:
        Money.parse(value, USD)
    assert caught.value.code == "invalid_amount"
    assert "string" in caught.value.message


@pytest.mark.parametrize("text", ["-1", "-0.01", "- 1.00", "+1.00"])
def test_parse_refuses_signed_amounts(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, USD)


@pytest.mark.parametrize("text", ["0", "0.00", "0.0", "000"])
def test_parse_refuses_zero_unless_allowed(text: str) -> None:
    with pytest.raises(InvalidAmount, match="greater than zero"):
        Money.parse(text, USD)
    assert Money.parse(text, USD, allow_zero=True) == Money(0, USD)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("1.001", USD), ("0.005", USD), ("1.5", JPY), ("1.0", JPY), ("1.00001", CLF)],
)
def test_parse_refuses_too_many_fraction_digits(text: str, currency: Currency) -> None:
    with pytest.raises(InvalidAmount, match="fraction digits"):
        Money.parse(text, currency)


def test_parse_allows_fifteen_integer_digits_but_not_sixteen() -> None:
    assert Money.parse("9" * 15, USD).minor == int("9" * 15) * 100
    with pytest.raises(InvalidAmount, match="integer digits"):
        Money.parse("1" + "0" * 15, USD)
    with pytest.raises(InvalidAmount, match="integer digits"):
        Money.parse("9" * 16 + ".00", USD)


def test_parse_refuses_amounts_the_ledger_cannot_hold() -> None:
    # 15 integer digits of a 4-digit currency exceed what an account total may reach: that must
    # be a client error (invalid_amount), not an internal failure later in the ledger.
    with pytest.raises(InvalidAmount):
        Money.parse("999999999999999.9999", CLF)
    assert Money.parse("999999999999999.999", KWD).minor == 10**18 - 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "abc",
        "12.",
        ".50",
        "1,000.00",
        "1 000",
        "1e3",
        "0x10",
        "12.50 USD",
        "$12.50",
        "١٢",  # Arabic-Indic digits: int() would accept them, the contract does not
        "\uff11\uff12",  # full-width digits
        "NaN",
        "inf",
        "1_000",
        "12.5.0",
    ],
)
def test_parse_refuses_garbage(text: str) -> None:
    with pytest.raises(InvalidAmount):
        Money.parse(text, USD)


# Money objects --------------------------------------------------------------------------------


@pytest.mark.parametrize("minor", [1.5, "100", True, None])
def test_money_holds_only_integers(minor: object) -> None:
    with pytest.raises(TypeError):
        Money(minor, USD)  # type: ignore[arg-type]


def test_arithmetic_stays_in_one_currency() -> None:
    assert Money(150, USD) + Money(50, USD) == Money(200, USD)
    assert Money(150, USD) - Money(50, USD) == Money(100, USD)
    assert Money(1, USD) < Money(2, USD)
    assert not Money(2, USD) < Money(2, USD)
    eur = Currency("EUR", 2)
    for operation in (
        lambda: Money(1, USD) + Money(1, eur),
        lambda: Money(1, USD) - Money(1, eur),
        lambda: Money(1, USD) < Money(1, eur),
    ):
        with pytest.raises(CurrencyMismatch):
            operation()


# Currencies -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "digits"), [("usd", 2), ("US", 2), ("USDX", 2), ("USD", 5)])
def test_currency_refuses_bad_definitions(code: str, digits: int) -> None:
    with pytest.raises(ValueError, match="currency"):
        Currency(code, digits)


def test_default_currencies() -> None:
    currencies = Currencies.default()
    assert currencies.codes == ("USD", "EUR", "GBP", "LBP")
    assert all(c.digits == 2 for c in currencies)
    assert "USD" in currencies
    assert "JPY" not in currencies


def test_currencies_parse_configuration_text() -> None:
    currencies = Currencies.parse(" usd:2, JPY:0 ,,KWD:3, EUR ")
    assert currencies.codes == ("USD", "JPY", "KWD", "EUR")
    assert currencies.get("JPY") == Currency("JPY", 0)
    assert currencies.get("KWD").digits == 3
    assert currencies.get("EUR").digits == 2


@pytest.mark.parametrize("text", ["", " , ", "US:2", "USD:9", "USD:x"])
def test_currencies_parse_refuses_bad_configuration(text: str) -> None:
    with pytest.raises(ValueError, match=r"currency|invalid literal"):
        Currencies.parse(text)


def test_currencies_get_normalises_the_code() -> None:
    currencies = Currencies.default()
    assert currencies.get(" eur ") == Currency("EUR", 2)


@pytest.mark.parametrize("code", ["JPY", "", "dollars", None, 840])
def test_currencies_get_refuses_unsupported(code: object) -> None:
    with pytest.raises(UnsupportedCurrency) as caught:
        Currencies.default().get(code)  # type: ignore[arg-type]
    assert caught.value.code == "unsupported_currency"
    assert "USD, EUR, GBP, LBP" in caught.value.message
