"""What each customer email says: plain text and HTML, rendered from the event that prompts it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from html import escape

from notifications.delivery import estimated_delivery
from orderflow_shared.addresses import address_lines
from orderflow_shared.contracts.orders import OrderFailureData, SendConfirmationData
from orderflow_shared.contracts.values import PricedOrder
from orderflow_shared.money import format_money

SHOP_NAME = "orderflow"


@dataclass(frozen=True)
class EmailContent:
    subject: str
    text: str
    html: str


def confirmation_email(order_id: str, confirmed_on: date, data: SendConfirmationData) -> EmailContent:
    address = data.shipping_address
    delivery = estimated_delivery(confirmed_on).describe()
    text = "\n".join(
        [
            f"Hello {address.name},",
            "",
            f"Thank you for your order {order_id}. Your payment was received and your order is confirmed.",
            "",
            f"Order {order_id}",
            *_order_text(data.order),
            "",
            f"Download your invoice (PDF): {data.invoice_url}",
            "",
            "Delivery",
            "Shipping to:",
            *(f"  {line}" for line in address_lines(address)),
            f"Estimated delivery: {delivery}",
            "",
            _signature(),
        ]
    )
    html = _html_page(
        f"<p>Hello {escape(address.name)},</p>"
        f"<p>Thank you for your order <strong>{escape(order_id)}</strong>. "
        "Your payment was received and your order is confirmed.</p>"
        f"{_order_html(order_id, data.order)}"
        f'<p><a href="{escape(data.invoice_url)}">Download your invoice (PDF)</a></p>'
        "<h3>Delivery</h3>"
        f"<p>Shipping to:<br>{'<br>'.join(escape(line) for line in address_lines(address))}</p>"
        f"<p>Estimated delivery: {escape(delivery)}</p>"
    )
    return EmailContent(subject=f"Your {SHOP_NAME} order {order_id} is confirmed", text=text, html=html)


def out_of_stock_email(order_id: str, data: OrderFailureData) -> EmailContent:
    return _failure_email(
        order_id,
        subject=f"Your {SHOP_NAME} order {order_id} could not be fulfilled",
        headline=f"We are sorry: some items of your order {order_id} are out of stock.",
        reason=data.reason,
        consequence="Nothing was charged: no payment was taken for this order.",
    )


def payment_failed_email(order_id: str, data: OrderFailureData) -> EmailContent:
    return _failure_email(
        order_id,
        subject=f"Payment for your {SHOP_NAME} order {order_id} failed",
        headline=f"We could not take the payment for your order {order_id}.",
        reason=data.reason,
        consequence=(
            "The items reserved for your order were released. "
            "You are welcome to place the order again with another payment method."
        ),
    )


def order_failed_email(order_id: str, data: OrderFailureData) -> EmailContent:
    return _failure_email(
        order_id,
        subject=f"Your {SHOP_NAME} order {order_id} could not be completed",
        headline=f"We are sorry: something went wrong on our side with your order {order_id}.",
        reason=data.reason,
        consequence=(
            "Your order was cancelled: anything reserved for it was released, and any payment "
            "taken for it is refunded in full."
        ),
    )


def _failure_email(order_id: str, subject: str, headline: str, reason: str, consequence: str) -> EmailContent:
    reason_sentence = f"Reason: {reason}" if reason.strip() else ""
    paragraphs = [p for p in ("Hello,", headline, reason_sentence, consequence) if p]
    text = "\n\n".join([*paragraphs, _signature()])
    html = _html_page("".join(f"<p>{escape(p)}</p>" for p in paragraphs))
    return EmailContent(subject=subject, text=text, html=html)


def _order_text(order: PricedOrder) -> list[str]:
    lines = [
        f"  {line.quantity} x {line.sku} at {format_money(line.unit_price, order.currency)}"
        f" = {format_money(line.line_total, order.currency)}"
        for line in order.lines
    ]
    return [*lines, f"Total: {format_money(order.total_amount, order.currency)}"]


def _order_html(order_id: str, order: PricedOrder) -> str:
    cell = '<td style="padding:4px 8px">'
    amount_cell = '<td style="padding:4px 8px;text-align:right">'
    rows = "".join(
        f"<tr>{cell}{escape(line.sku)}</td>{amount_cell}{line.quantity}</td>"
        f"{amount_cell}{escape(format_money(line.unit_price, order.currency))}</td>"
        f"{amount_cell}{escape(format_money(line.line_total, order.currency))}</td></tr>"
        for line in order.lines
    )
    total = escape(format_money(order.total_amount, order.currency))
    return (
        f"<h3>Order {escape(order_id)}</h3>"
        '<table style="border-collapse:collapse">'
        "<tr><th>SKU</th><th>Quantity</th><th>Unit price</th><th>Line total</th></tr>"
        f"{rows}"
        f'<tr><td colspan="3" style="padding:4px 8px;text-align:right"><strong>Total</strong></td>'
        f"{amount_cell}<strong>{total}</strong></td></tr>"
        "</table>"
    )


def _signature() -> str:
    return f"The {SHOP_NAME} team"


def _html_page(body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="font-family:sans-serif">{body}<p>{escape(_signature())}</p></body></html>'
    )
