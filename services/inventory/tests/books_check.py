"""The conservation invariant, checked on the stored items themselves (not on what the code derives)."""

from __future__ import annotations

import os
from typing import Any

from orderflow_shared.aws import dynamodb_table

COUNTS = ("available", "reserved", "sold")


def stored_books(sku: str) -> dict[str, int]:
    item = dynamodb_table(os.environ["CATALOGUE_TABLE"]).get_item(Key={"sku": sku})["Item"]
    return {name: int(item[name]) for name in (*COUNTS, "stocked", "version")}


def logged_deltas(sku: str) -> list[int]:
    items: list[dict[str, Any]] = (
        dynamodb_table(os.environ["ADJUSTMENTS_TABLE"])
        .query(KeyConditionExpression="sku = :sku", ExpressionAttributeValues={":sku": sku})
        .get("Items", [])
    )
    return [int(item["delta"]) for item in items]


def balance_problems(*skus: str) -> list[str]:
    """[] when, for every SKU, stocked = available + reserved + sold = the sum of its logged deltas,
    and no count is negative."""
    problems = []
    for sku in skus:
        books = stored_books(sku)
        held = sum(books[name] for name in COUNTS)
        if held != books["stocked"]:
            problems.append(f"{sku}: stocked {books['stocked']} but available + reserved + sold = {held}")
        if any(books[name] < 0 for name in COUNTS):
            problems.append(f"{sku}: a negative count in {books}")
        if sum(logged_deltas(sku)) != books["stocked"]:
            problems.append(
                f"{sku}: stocked {books['stocked']} but the log adds up to {sum(logged_deltas(sku))}"
            )
    return problems
