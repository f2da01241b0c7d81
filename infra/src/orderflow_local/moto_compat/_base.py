"""The version check and the ``Fix`` base class that every patch in this package builds on.

Every other module imports this one before any moto internal, so that the version is checked first.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from types import ModuleType
from typing import Any, Final

import moto

SUPPORTED_MOTO_VERSION: Final = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """Raised when the installed moto is not the release these patches were written against."""


def _require_supported_moto() -> None:
    # The patches replace private methods by name and rely on their bodies; on another release they
    # could silently do nothing or break the interpreter, so fail loudly instead.
    if moto.__version__ != SUPPORTED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"orderflow_local.moto_compat patches moto {SUPPORTED_MOTO_VERSION} internals, but moto "
            f"{moto.__version__} is installed. Pin moto=={SUPPORTED_MOTO_VERSION} or re-verify each "
            "fix against the new release (see infra/tests/test_moto_compat.py) and update the pin."
        )


# Checked before importing the internals: on another release those imports may fail first, with a
# far less helpful error.
_require_supported_moto()


# Marks an attribute that a patch adds to a class which only inherited it, so revert deletes it.
_INHERITED: Final = object()

# A class attribute, or a module's (for a function other modules call through their own import).
_Patch = tuple[type | ModuleType, str, Callable[..., Any]]


class Fix(abc.ABC):
    """A named, reversible group of attribute replacements on moto classes.

    Subclasses document the moto gap, the AWS behaviour and when the fix can be dropped, and
    return their replacements from ``_patches``, which runs at apply time so that wrappers close
    over moto's own methods.
    """

    def __init__(self) -> None:
        self._saved: list[tuple[type | ModuleType, str, object]] = []

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def applied(self) -> bool:
        return bool(self._saved)

    @abc.abstractmethod
    def _patches(self) -> list[_Patch]: ...

    def apply(self) -> None:
        if self.applied:
            return
        for owner, attribute, replacement in self._patches():
            self._saved.append((owner, attribute, owner.__dict__.get(attribute, _INHERITED)))
            setattr(owner, attribute, replacement)

    def revert(self) -> None:
        while self._saved:
            owner, attribute, original = self._saved.pop()
            if original is _INHERITED:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)

    def __repr__(self) -> str:
        return f"<{self.name} applied={self.applied}>"


def _original(owner: type | ModuleType, attribute: str) -> Callable[..., Any]:
    # Read before patching; every Fix patches a distinct attribute, so this is always moto's own.
    function: Callable[..., Any] = owner.__dict__[attribute]
    return function
