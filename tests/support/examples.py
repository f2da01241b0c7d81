"""Importing the programs in examples/, which are not packages of the workspace."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.support.local_stack import REPO_ROOT


def import_example(relative_path: str) -> ModuleType:
    """The module at examples/<relative_path>, imported under its file name as its own README runs it."""
    path = REPO_ROOT / "examples" / relative_path
    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module
