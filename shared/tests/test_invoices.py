from orderflow_shared.invoices import invoice_json_key, invoice_link, invoice_pdf_key


def test_the_copies_of_an_order_live_under_its_own_prefix() -> None:
    assert invoice_pdf_key("o-1") == "invoices/o-1/invoice.pdf"
    assert invoice_json_key("o-1") == "invoices/o-1/invoice.json"


def test_the_link_is_the_orders_apis_invoice_route_under_its_base_url() -> None:
    assert (
        invoice_link("https://api.example.com/Prod", "o-1")
        == "https://api.example.com/Prod/orders/o-1/invoice"
    )
    assert invoice_link("https://api.example.com/", "o-1") == "https://api.example.com/orders/o-1/invoice"


def test_an_order_id_is_one_path_segment_of_the_link() -> None:
    assert (
        invoice_link("https://api.example.com", "a/b c") == "https://api.example.com/orders/a%2Fb%20c/invoice"
    )
