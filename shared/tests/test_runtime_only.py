"""orderflow_shared is what every Lambda bundle ships whole: runtime code only, no development tooling."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import orderflow_shared

# The tooling's own package, and the libraries only it and the tests may use.
DEVELOPMENT_ONLY = frozenset(
    {"orderflow_devtools", "pytest", "hypothesis", "jsonschema", "moto", "cfn_flip", "yaml"}
)
PACKAGE_ROOT = Path(orderflow_shared.__file__).parent

_LOADED_BY_IMPORTING_EVERY_MODULE = """
import importlib, json, pkgutil, sys
import orderflow_shared
for module in pkgutil.walk_packages(orderflow_shared.__path__, "orderflow_shared."):
    importlib.import_module(module.name)
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def _imported_names(source: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_module_imports_development_tooling_even_inside_a_function() -> None:
    found = {
        str(source.relative_to(PACKAGE_ROOT)): sorted(_imported_names(source) & DEVELOPMENT_ONLY)
        for source in sorted(PACKAGE_ROOT.rglob("*.py"))
    }

    assert {path: names for path, names in found.items() if names} == {}


def test_importing_every_module_loads_no_development_tooling() -> None:
    environment = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADED_BY_IMPORTING_EVERY_MODULE],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    assert set(json.loads(loaded.stdout)) & DEVELOPMENT_ONLY == set()
