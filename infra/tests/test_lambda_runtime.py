"""Each function runs in its own process with its own environment, like a Lambda container."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.resources import FunctionSpec

HANDLER = textwrap.dedent(
    """
    import os, time
    LOADED_AT_INIT = os.environ["GREETING"]

    def handler(event, context):
        if event.get("sleep"):
            time.sleep(event["sleep"])
        if event.get("fail"):
            raise ValueError("asked to fail")
        remaining = context.get_remaining_time_in_millis()
        return {"greeting": LOADED_AT_INIT, "name": context.function_name, "remaining": remaining}
    """
)


def function(tmp_path: Path, greeting: str, timeout: int = 5) -> LocalFunction:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "probe_handler.py").write_text(HANDLER)
    spec = FunctionSpec(
        logical_id="Probe",
        name=f"probe-{greeting}",
        handler="probe_handler.handler",
        code_dir=code,
        timeout=timeout,
        memory=128,
        environment={},
    )
    local = LocalFunction(spec, {"GREETING": greeting})
    local.start()
    local.wait_ready(timeout=60)
    return local


def test_functions_have_their_own_environment(tmp_path: Path) -> None:
    hello, hola = function(tmp_path, "hello"), function(tmp_path, "hola")
    try:
        assert hello.invoke({})["greeting"] == "hello"
        assert hola.invoke({})["greeting"] == "hola"
        assert hola.invoke({})["name"] == "probe-hola"
    finally:
        hello.stop()
        hola.stop()


def test_a_handler_error_is_a_function_error_and_the_function_keeps_serving(tmp_path: Path) -> None:
    local = function(tmp_path, "hello")
    try:
        with pytest.raises(FunctionError, match="ValueError: asked to fail"):
            local.invoke({"fail": True})
        assert local.invoke({})["greeting"] == "hello"
    finally:
        local.stop()


def test_a_handler_past_its_timeout_is_stopped_and_replaced(tmp_path: Path) -> None:
    local = function(tmp_path, "hello", timeout=1)
    try:
        with pytest.raises(FunctionError, match="timed out after 1 seconds"):
            local.invoke({"sleep": 30})
        assert local.invoke({})["remaining"] <= 1000
    finally:
        local.stop()


def test_an_init_failure_is_reported(tmp_path: Path) -> None:
    spec = FunctionSpec("Bad", "bad", "no_such_module.handler", tmp_path, 3, 128, {})
    local = LocalFunction(spec, {})
    local.start()
    try:
        with pytest.raises(FunctionError, match="initialisation failed"):
            local.wait_ready(timeout=60)
    finally:
        local.stop()
