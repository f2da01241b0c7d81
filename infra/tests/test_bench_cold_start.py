"""The cold-start benchmark finds every function's handler module and times fresh imports of it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow_local.bench import cold_start
from orderflow_local.bench.cold_start import handler_modules, main, measure_handler_imports

REPO_ROOT = Path(__file__).resolve().parents[2]

# Loaded by the code that uses them, not by importing a handler: the X-Ray SDK only while tracing is
# on, boto3 with the first client, fpdf with the first invoice, Powertools' idempotency with the first
# send or retried POST, its OpenAPI models with the first document.
DEFERRED = (
    "aws_xray_sdk",
    "boto3",
    "fpdf",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.event_handler.openapi.models",
)
_LOADED_OF_DEFERRED = """
import importlib, json, sys
sys.path.insert(0, sys.argv[2])
importlib.import_module(sys.argv[1])
print(json.dumps([name for name in sys.argv[3:] if name in sys.modules]))
"""


def handlers_in_templates() -> set[str]:
    """Every Handler line of every service template, read as text."""
    return {
        handler
        for template in REPO_ROOT.glob("services/*/template.yaml")
        for handler in re.findall(r"^\s+Handler:\s*(\S+)\s*$", template.read_text(), flags=re.MULTILINE)
    }


def test_every_function_of_every_service_template_is_found_with_its_module_and_environment() -> None:
    found = handler_modules(REPO_ROOT)

    assert {f"{handler.module}.handler" for handler in found} == handlers_in_templates()
    for handler in found:
        assert (handler.code_dir / Path(*handler.module.split("."))).with_suffix(".py").is_file()
        assert handler.environment["POWERTOOLS_SERVICE_NAME"] == handler.service
    [orders_api] = [handler for handler in found if handler.module == "orders.handlers.api"]
    # A reference to a parameter is its default: the handler may parse it.
    assert int(orders_api.environment["INVOICE_DOWNLOAD_SECONDS"]) > 0


def test_each_module_gets_a_positive_median_of_its_fresh_imports() -> None:
    found = {handler.module: handler for handler in handler_modules(REPO_ROOT)}
    chosen = [found["notifications.handlers.email_sent"], found["orders.handlers.status_projector"]]

    medians = measure_handler_imports(repeats=1, handlers=chosen)

    assert set(medians) == {handler.module for handler in chosen}
    assert all(milliseconds > 0 for milliseconds in medians.values())


def test_a_module_that_fails_to_import_is_reported() -> None:
    [handler] = [h for h in handler_modules(REPO_ROOT) if h.module == "payments.handlers.process_payment"]
    broken = cold_start.HandlerModule(
        handler.service, handler.function, "payments.handlers.absent", handler.code_dir, handler.environment
    )

    with pytest.raises(RuntimeError, match=r"payments\.handlers\.absent"):
        measure_handler_imports(repeats=1, handlers=[broken])


@pytest.mark.parametrize(("medians", "exit_code"), [({"a.handler": 120.0}, 0), ({"a.handler": 300.0}, 1)])
def test_the_command_fails_when_a_median_reaches_the_budget(
    medians: dict[str, float],
    exit_code: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(cold_start, "measure_handler_imports", lambda repeats: medians)

    assert main(["--repeats", "1"]) == exit_code
    assert "a.handler" in capsys.readouterr().out


def test_no_handler_module_loads_what_is_deferred_to_its_first_use() -> None:
    loaded = {}
    for handler in handler_modules(REPO_ROOT):
        printed = subprocess.check_output(
            [sys.executable, "-c", _LOADED_OF_DEFERRED, handler.module, str(handler.code_dir), *DEFERRED],
            env={**os.environ, **cold_start.LAMBDA_ENVIRONMENT, **handler.environment},
            text=True,
        )
        loaded[handler.module] = json.loads(printed.splitlines()[-1])

    assert {module: names for module, names in loaded.items() if names} == {}
