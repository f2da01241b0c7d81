"""Displaying integer minor units as an amount a person reads."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 minor-unit exponents that differ from the usual 2 (cents).
_EXPONENTS = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
    "VND": 0,
}
DEFAULT_EXPONENT = 2


def minor_unit_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


def format_money(amount: int, currency: str) -> str:
    """``format_money(123456, "USD") == "1,234.56 USD"``; ``format_money(1500, "JPY") == "1,500 JPY"``."""
    exponent = minor_unit_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency.upper()}"
