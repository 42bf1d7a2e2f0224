"""Importing a library without the optional extras it would load just because they are installed."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from types import ModuleType


def import_without(module: str, optionals: Iterable[str]) -> ModuleType:
    """``module``, imported with ``optionals`` (not loaded yet) hidden: each import of one raises ImportError,
    which the library takes as "not installed". Once imported, ``module`` is returned as it is."""
    if module in sys.modules:
        return sys.modules[module]
    hidden = [name for name in optionals if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # None there: `import numpy` raises ImportError
    try:
        return importlib.import_module(module)
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
