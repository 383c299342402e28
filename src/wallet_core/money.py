"""Money as an integer of minor units in a currency; decimal strings only at the edges."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from wallet_core.errors import CurrencyMismatch, InvalidAmount, UnsupportedCurrency

MAX_INTEGER_DIGITS = 15
#: Any single total stays below this, far inside a signed 64-bit column.
MAX_MINOR_TOTAL = 2**62

_CODE = re.compile(r"^[A-Z]{3}$")
_AMOUNT = re.compile(r"^(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?$")


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 currency and how many minor-unit digits it has."""

    code: str
    digits: int = 2

    def __post_init__(self) -> None:
        if not _CODE.match(self.code):
            raise ValueError(f"currency code must be three capital letters, got {self.code!r}")
        if not 0 <= self.digits <= 4:
            raise ValueError(f"currency digits must be 0..4, got {self.digits}")


class Currencies:
    """The configured currencies (a registry, so the list is configuration, not code)."""

    def __init__(self, currencies: Iterable[Currency]) -> None:
        self._by_code = {c.code: c for c in currencies}
        if not self._by_code:
            raise ValueError("at least one currency must be configured")

    @classmethod
    def default(cls) -> Currencies:
        return cls(Currency(code, 2) for code in ("USD", "EUR", "GBP", "LBP"))

    @classmethod
    def parse(cls, text: str) -> Currencies:
        """Parse ``"USD:2,EUR:2,JPY:0"`` (digits default to 2)."""
        items = []
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            code, _, digits = part.partition(":")
            items.append(Currency(code.strip().upper(), int(digits) if digits else 2))
        return cls(items)

    def get(self, code: str) -> Currency:
        currency = self._by_code.get(code.strip().upper()) if isinstance(code, str) else None
        if currency is None:
            raise UnsupportedCurrency(
                f"Currency {code!r} is not supported; supported: {', '.join(self.codes)}"
            )
        return currency

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Currency]:
        return iter(self._by_code.values())

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._by_code)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in integer minor units (cents) of one currency. Never a float."""

    minor: int
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int of minor units")

    @classmethod
    def parse(cls, text: object, currency: Currency, *, allow_zero: bool = False) -> Money:
        """Parse a request amount: a decimal string, positive, within the currency's digits."""
        if not isinstance(text, str):
            raise InvalidAmount('Amounts must be decimal strings such as "12.50", not numbers.')
        match = _AMOUNT.match(text.strip())
        if match is None:
            raise InvalidAmount(f'{text!r} is not a decimal amount such as "12.50".')
        whole, frac = match["int"], match["frac"] or ""
        if len(whole.lstrip("0")) > MAX_INTEGER_DIGITS:
            raise InvalidAmount(f"Amounts have at most {MAX_INTEGER_DIGITS} integer digits.")
        if len(frac) > currency.digits:
            raise InvalidAmount(
                f"{currency.code} amounts have at most {currency.digits} fraction digits."
            )
        minor = int(whole) * 10**currency.digits + int(frac.ljust(currency.digits, "0") or "0")
        if minor < 0 or (minor == 0 and not allow_zero):
            raise InvalidAmount("The amount must be greater than zero.")
        if minor >= MAX_MINOR_TOTAL:
            raise InvalidAmount("The amount is too large.")
        return cls(minor, currency)

    def format(self) -> str:
        """The API's decimal string, always with the currency's minor digits: ``"12.50"``."""
        sign = "-" if self.minor < 0 else ""
        units, cents = divmod(abs(self.minor), 10**self.currency.digits)
        if self.currency.digits == 0:
            return f"{sign}{units}"
        return f"{sign}{units}.{cents:0{self.currency.digits}d}"

    def __str__(self) -> str:
        return f"{self.format()} {self.currency.code}"

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency.code} and {other.currency.code}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor


def format_minor(minor: int, currency: Currency) -> str:
    return Money(minor, currency).format()
