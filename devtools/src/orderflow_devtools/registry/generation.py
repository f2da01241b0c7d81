"""Every generated file, rendered in memory from a repository root; written, or compared with disk.

Rendering reads only the root given (the services' events.yaml and templates, infra/template.yaml)
and the contract models, so a copy of the repository can be checked as well as the real one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orderflow_devtools.registry.artefacts import EventContract
from orderflow_devtools.registry.catalogue import catalogue_problems, load_services
from orderflow_devtools.registry.cloudformation import schemas_block, with_schemas_block
from orderflow_devtools.registry.docs import SAMPLES_FOLDER, SCHEMAS_FOLDER, events_markdown
from orderflow_devtools.registry.event_types import EventType, contract_models
from orderflow_devtools.registry.samples import sample_event
from orderflow_devtools.registry.schemas import event_schema
from orderflow_shared.contracts import ALL_EVENTS, Event
from orderflow_shared.contracts.base import Command

REPO_ROOT = Path(__file__).resolve().parents[4]
EVENTS_DOC = "docs/events.md"
INFRA_TEMPLATE = "infra/template.yaml"
GENERATED_FOLDERS = (SCHEMAS_FOLDER, SAMPLES_FOLDER)  # every file in them is generated
COMMAND = "python -m orderflow_devtools.registry generate"


class CatalogueProblemsError(Exception):
    """The services' declarations do not add up with the contracts; generating would document that."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def event_contracts(models: tuple[type[Event], ...] = ALL_EVENTS) -> list[EventContract]:
    contracts = []
    for event_type, model in contract_models(models).items():
        schema = event_schema(model)
        contracts.append(EventContract(event_type, model, schema, sample_event(model, schema)))
    return contracts


def command_types(contracts: list[EventContract]) -> set[EventType]:
    return {contract.event_type for contract in contracts if issubclass(contract.model, Command)}


def render(root: Path) -> dict[str, str]:
    """Path relative to ``root`` -> the content it must have."""
    services = load_services(root)
    contracts = event_contracts()
    problems = catalogue_problems(
        services, [contract.event_type for contract in contracts], command_types(contracts)
    )
    if problems:
        raise CatalogueProblemsError(problems)
    files: dict[str, str] = {}
    for contract in contracts:
        name = contract.event_type.schema_name
        files[f"{SCHEMAS_FOLDER}/{name}.json"] = dump_json(contract.schema)
        files[f"{SAMPLES_FOLDER}/{name}.json"] = dump_json(contract.sample)
    files[EVENTS_DOC] = events_markdown(contracts, services)
    block = schemas_block({contract.event_type.schema_name: contract.schema for contract in contracts})
    files[INFRA_TEMPLATE] = with_schemas_block((root / INFRA_TEMPLATE).read_text(), block)
    return files


def generate(root: Path) -> list[str]:
    """Writes every generated file under ``root`` and deletes stale ones; returns the paths it touched."""
    files = render(root)
    touched = _extra_files(root, files)
    for path in touched:
        (root / path).unlink()
    for path, content in files.items():
        target = root / path
        if not target.exists() or target.read_text() != content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
            touched.append(path)
    return touched


def stale_files(root: Path, files: dict[str, str] | None = None) -> list[str]:
    """One line per generated file under ``root`` that is out of date, missing or no longer generated."""
    files = render(root) if files is None else files
    stale = []
    for path, content in files.items():
        target = root / path
        if not target.exists():
            stale.append(f"{path}: missing")
        elif target.read_text() != content:
            stale.append(f"{path}: out of date with the contracts")
    stale += [f"{path}: no contract generates it any more" for path in _extra_files(root, files)]
    return stale


def _extra_files(root: Path, files: dict[str, str]) -> list[str]:
    return sorted(
        path.relative_to(root).as_posix()
        for folder in GENERATED_FOLDERS
        for path in (root / folder).glob("*")
        if path.is_file() and path.relative_to(root).as_posix() not in files
    )
