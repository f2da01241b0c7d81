import pytest

from orderflow_shared.money import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (123456, "USD", "1,234.56 USD"),
        (5, "EUR", "0.05 EUR"),
        (0, "USD", "0.00 USD"),
        (1500, "JPY", "1,500 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (990, "XYZ", "9.90 XYZ"),
        (990, "usd", "9.90 USD"),
    ],
)
def test_amounts_are_shown_in_the_currencys_major_unit(amount: int, currency: str, shown: str) -> None:
    assert format_money(amount, currency) == shown
