"""Versions as entity tags and the If-Match precondition: no AWS."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inventory.etag import ETAG_PATTERN, IF_MATCH_PATTERN, etag, parse_if_match


def test_a_version_is_a_strong_quoted_entity_tag() -> None:
    assert etag(7) == '"7"'


@pytest.mark.parametrize(
    ("header", "version", "allowed"),
    [
        ('"7"', 7, True),
        ('"6"', 7, False),
        ('"6", "7"', 7, True),
        ('W/"7"', 7, False),  # If-Match compares strongly
        ('"abc"', 7, False),
        ("*", 7, True),
        ("*", None, False),  # "*" needs the SKU to exist
        ('"0"', None, False),
    ],
)
def test_if_match_allows_only_a_listed_strong_version_of_an_existing_sku(
    header: str, version: int | None, allowed: bool
) -> None:
    assert parse_if_match(header).allows(version) is allowed


@pytest.mark.parametrize("header", ["7", '"7', '"7",', "W/7", '"a"b"'])
def test_a_malformed_if_match_is_refused(header: str) -> None:
    with pytest.raises(ValueError, match="If-Match"):
        parse_if_match(header)


@given(st.from_regex(IF_MATCH_PATTERN, fullmatch=True))
def test_every_if_match_the_document_allows_is_parsed(header: str) -> None:
    parse_if_match(header)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12))
def test_every_if_match_parsed_is_one_the_document_allows(header: str) -> None:
    try:
        parse_if_match(header)
    except ValueError:
        return
    # Header values reach the API without leading or trailing whitespace.
    assert re.fullmatch(IF_MATCH_PATTERN, header.strip(" \t"))


def test_an_etag_is_what_the_document_says() -> None:
    assert re.fullmatch(ETAG_PATTERN, etag(123))
