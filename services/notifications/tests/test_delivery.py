from datetime import date

import pytest

from notifications.delivery import add_business_days, estimated_delivery


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 5, 11), 3, date(2026, 5, 14)),  # Monday -> Thursday
        (date(2026, 5, 15), 3, date(2026, 5, 20)),  # Friday -> Wednesday, over the weekend
        (date(2026, 5, 16), 1, date(2026, 5, 18)),  # Saturday -> Monday
        (date(2026, 5, 15), 5, date(2026, 5, 22)),  # Friday -> next Friday
    ],
)
def test_business_days_skip_weekends(start: date, days: int, expected: date) -> None:
    assert add_business_days(start, days) == expected


def test_window_is_three_to_five_business_days() -> None:
    window = estimated_delivery(date(2026, 5, 15))

    assert (window.earliest, window.latest) == (date(2026, 5, 20), date(2026, 5, 22))
    assert window.describe() == "between Wed 20 May 2026 and Fri 22 May 2026 (3-5 business days)"
