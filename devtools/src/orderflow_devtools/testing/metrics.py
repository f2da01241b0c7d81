"""Reading the metrics a handler emitted: Powertools writes each flush as one CloudWatch embedded
metric format (EMF) line on stdout."""

from __future__ import annotations

import json


def emitted_metric(output: str, name: str) -> list[float]:
    """Every value of the metric ``name`` in the EMF lines of ``output`` (a handler's stdout)."""
    values: list[float] = []
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        blob = json.loads(line)
        if "_aws" in blob and name in blob:
            values += blob[name] if isinstance(blob[name], list) else [blob[name]]
    return values
