"""A SKU's version as an HTTP entity tag, and the If-Match precondition (RFC 9110, section 13.1.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# One entity tag: optionally weak (W/), then a quoted opaque value without quotes inside.
_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e]*)"\s*')

# For the OpenAPI document: the ETag we send, and an If-Match that parse_if_match accepts (a list
# split at every comma, so no tag holds one).
ETAG_PATTERN = r'^"[0-9]+"$'
_TAG = r'(W/)?"[\x21\x23-\x2b\x2d-\x7e]*"'
IF_MATCH_PATTERN = rf"^[ \t]*(\*|{_TAG}([ \t]*,[ \t]*{_TAG})*)[ \t]*$"


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True)
class IfMatch:
    any_version: bool
    versions: frozenset[int]

    def allows(self, version: int | None) -> bool:
        """Whether a SKU at ``version`` (None: not in the catalogue) meets the precondition."""
        if version is None:
            return False  # even "*" needs a current representation
        return self.any_version or version in self.versions


def parse_if_match(header: str) -> IfMatch:
    """Parses ``*`` or a comma-separated list of entity tags; raises ValueError for anything else.

    If-Match compares strongly, so a weak tag never matches; neither does a tag that is not one
    of our versions.
    """
    if header.strip() == "*":
        return IfMatch(any_version=True, versions=frozenset())
    versions = set()
    for part in header.split(","):
        match = _ENTITY_TAG.fullmatch(part)
        if match is None:
            raise ValueError('If-Match must be "*" or a list of entity tags such as "7"')
        weak, opaque = match.groups()
        if weak is None and opaque.isdecimal():
            versions.add(int(opaque))
    return IfMatch(any_version=False, versions=frozenset(versions))
