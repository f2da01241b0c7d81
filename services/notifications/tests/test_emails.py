from datetime import date

from notifications.emails import confirmation_email, out_of_stock_email, payment_failed_email
from orderflow_shared.contracts.orders import OrderFailureData, SendConfirmationData

ORDER_ID = "3f2a9c1b-77d0"
CONFIRMED_ON = date(2026, 5, 15)


def test_confirmation_names_the_order_in_subject_and_bodies(confirmation_data: SendConfirmationData) -> None:
    email = confirmation_email(ORDER_ID, CONFIRMED_ON, confirmation_data)

    assert ORDER_ID in email.subject
    assert ORDER_ID in email.text
    assert ORDER_ID in email.html


def test_confirmation_lists_lines_and_total_in_the_currency(confirmation_data: SendConfirmationData) -> None:
    email = confirmation_email(ORDER_ID, CONFIRMED_ON, confirmation_data)

    assert "2 x KB-001 at 49.99 USD = 99.98 USD" in email.text
    assert "1 x MS-002 at 1,234.56 USD = 1,234.56 USD" in email.text
    assert "Total: 1,334.54 USD" in email.text
    assert "1,334.54 USD" in email.html
    assert "KB-001" in email.html


def test_confirmation_links_the_invoice(confirmation_data: SendConfirmationData) -> None:
    email = confirmation_email(ORDER_ID, CONFIRMED_ON, confirmation_data)

    assert "Download your invoice (PDF): https://api.orderflow.example/Prod/orders/o-1/invoice" in email.text
    assert 'href="https://api.orderflow.example/Prod/orders/o-1/invoice"' in email.html


def test_the_invoice_link_is_escaped_in_html(confirmation_data: SendConfirmationData) -> None:
    with_query = confirmation_data.model_copy(update={"invoice_url": "https://api.example/o?a=1&b=2"})

    email = confirmation_email(ORDER_ID, CONFIRMED_ON, with_query)

    # In HTML the query string's '&' is escaped, which browsers undo.
    assert 'href="https://api.example/o?a=1&amp;b=2"' in email.html


def test_confirmation_gives_the_shipping_address_and_delivery_window(
    confirmation_data: SendConfirmationData,
) -> None:
    email = confirmation_email(ORDER_ID, CONFIRMED_ON, confirmation_data)

    for line in ("Ana Pérez", "Calle Mayor 1", "Piso 2", "28013 Madrid", "ES"):
        assert line in email.text
        assert line in email.html
    assert "between Wed 20 May 2026 and Fri 22 May 2026 (3-5 business days)" in email.text
    assert "3-5 business days" in email.html


def test_customer_text_cannot_inject_html(confirmation_data: SendConfirmationData) -> None:
    address = confirmation_data.shipping_address.model_copy(update={"name": "<script>x</script>"})
    data = confirmation_data.model_copy(update={"shipping_address": address})

    email = confirmation_email(ORDER_ID, CONFIRMED_ON, data)

    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


def test_out_of_stock_gives_the_reason_and_says_nothing_was_charged(
    out_of_stock_data: OrderFailureData,
) -> None:
    email = out_of_stock_email(ORDER_ID, out_of_stock_data)

    assert ORDER_ID in email.subject
    for body in (email.text, email.html):
        assert "KB-001: 2 requested, 1 available" in body
        assert "Nothing was charged" in body


def test_payment_failed_gives_the_reason_and_says_the_reservation_was_released(
    payment_failed_data: OrderFailureData,
) -> None:
    email = payment_failed_email(ORDER_ID, payment_failed_data)

    assert ORDER_ID in email.subject
    assert "Payment" in email.subject
    for body in (email.text, email.html):
        assert "The card was declined" in body
        assert "reserved for your order were released" in body


def test_an_empty_reason_is_left_out(payment_failed_data: OrderFailureData) -> None:
    email = payment_failed_email(ORDER_ID, payment_failed_data.model_copy(update={"reason": " "}))

    assert "Reason" not in email.text
