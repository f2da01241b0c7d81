from orderflow_shared.addresses import address_lines
from orderflow_shared.contracts.values import ShippingAddress

ADDRESS = ShippingAddress(
    name="Ana Pérez", line1="Calle Mayor 1", city="Madrid", postal_code="28013", country="ES"
)


def test_an_address_prints_as_label_lines_with_the_postal_code_before_the_city() -> None:
    assert address_lines(ADDRESS) == ["Ana Pérez", "Calle Mayor 1", "28013 Madrid", "ES"]


def test_a_second_street_line_is_printed_only_when_given() -> None:
    with_line2 = ADDRESS.model_copy(update={"line2": "Piso 2"})

    assert address_lines(with_line2)[:3] == ["Ana Pérez", "Calle Mayor 1", "Piso 2"]
