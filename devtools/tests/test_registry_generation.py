"""Generation is deterministic, and `check` names every generated file that drifted from the models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cfn_flip import to_json

from orderflow_devtools.registry.__main__ import main
from orderflow_devtools.registry.cloudformation import logical_id, with_schemas_block
from orderflow_devtools.registry.generation import REPO_ROOT, generate, render, stale_files

ORDER_COMPLETED = "orderflow.orders@OrderCompleted-v1"
SCHEMA_FILE = f"shared/contracts/schemas/{ORDER_COMPLETED}.json"
SAMPLE_FILE = f"shared/contracts/samples/{ORDER_COMPLETED}.json"


def read_tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


def test_the_committed_files_are_up_to_date() -> None:
    assert stale_files(REPO_ROOT) == []


def test_generating_twice_is_byte_identical(repo_copy: Path) -> None:
    generate(repo_copy)
    first = read_tree(repo_copy)

    assert generate(repo_copy) == []
    assert read_tree(repo_copy) == first
    assert render(repo_copy) == render(repo_copy)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda root: (root / SCHEMA_FILE).write_text("{}\n"), f"{SCHEMA_FILE}: out of date"),
        (lambda root: (root / SAMPLE_FILE).unlink(), f"{SAMPLE_FILE}: missing"),
        (
            lambda root: (root / "shared/contracts/schemas/orderflow.orders@OrderShipped-v1.json").write_text(
                "{}"
            ),
            "shared/contracts/schemas/orderflow.orders@OrderShipped-v1.json: no contract generates it",
        ),
        (
            lambda root: (root / "docs/events.md").write_text("# edited by hand\n"),
            "docs/events.md: out of date",
        ),
        (
            lambda root: (root / "infra/template.yaml").write_text(
                (root / "infra/template.yaml").read_text().replace("JSONSchemaDraft4", "OpenApi3", 1)
            ),
            "infra/template.yaml: out of date",
        ),
    ],
    ids=["edited schema", "deleted sample", "extra schema", "edited docs", "edited registry block"],
)
def test_check_names_each_stale_file_and_the_fix(
    repo_copy: Path, capsys: pytest.CaptureFixture[str], mutate: Callable[[Path], object], expected: str
) -> None:
    mutate(repo_copy)

    assert main(["check", "--root", str(repo_copy)]) == 1

    error = capsys.readouterr().err
    assert expected in error
    assert "run `python -m orderflow_devtools.registry generate`" in error
    generate(repo_copy)
    assert main(["check", "--root", str(repo_copy)]) == 0


def test_registry_block_declares_every_committed_schema_and_keeps_the_rest() -> None:
    template = json.loads(to_json((REPO_ROOT / "infra/template.yaml").read_text()))
    resources = template["Resources"]
    schemas = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::EventSchemas::Schema"}
    committed = sorted((REPO_ROOT / "shared/contracts/schemas").glob("*.json"))

    assert resources["SchemaRegistry"]["Properties"]["RegistryName"] == "orderflow"
    assert {"EventBus", "CommandsBus", "CommandsBusPolicy", "EventArchive"} <= resources.keys()
    assert sorted(schemas) == sorted(logical_id(path.stem) for path in committed)
    for path in committed:
        properties = schemas[logical_id(path.stem)]
        assert properties["SchemaName"] == path.stem
        assert properties["Type"] == "JSONSchemaDraft4"
        assert properties["RegistryName"] == {"Fn::GetAtt": ["SchemaRegistry", "RegistryName"]}
        assert json.loads(properties["Content"]) == json.loads(path.read_text())


def test_schema_logical_ids_are_derived_from_the_name() -> None:
    assert logical_id("orderflow.orders@OrderReceived-v1") == "SchemaOrderflowOrdersOrderReceivedV1"


def test_a_template_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="BEGIN GENERATED SCHEMAS"):
        with_schemas_block("Resources:\n  Bus:\n    Type: AWS::Events::EventBus\n", "  # block")
