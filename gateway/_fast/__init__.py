"""Compiled hot paths, each with a pure-Python twin of identical behaviour.

A module `gateway/_fast/_NAME.pyx` is compiled to `gateway._fast._NAME`; its twin is `gateway/_fast/_NAME_py.py`.
Callers use :func:`load`, which returns the compiled module unless `GATEWAY_NO_EXTENSIONS=1` is set (or the
extension was not built, which is logged once, loudly, because the package is then several times slower).
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

log = logging.getLogger("gateway.fast")

NO_EXTENSIONS = os.environ.get("GATEWAY_NO_EXTENSIONS", "") not in ("", "0")


def load(name: str) -> ModuleType:
    """Return the implementation of `name` (for example "mime"): compiled, or the twin when forced or missing."""
    if not NO_EXTENSIONS:
        try:
            return importlib.import_module(f"gateway._fast._{name}")
        except ImportError:
            log.warning("compiled module gateway._fast._%s is not built; using the pure-Python twin", name)
    return importlib.import_module(f"gateway._fast._{name}_py")


def implementations(name: str) -> list[ModuleType]:
    """Both implementations (compiled first), for tests that must prove the twins agree.

    Raises ImportError when the compiled module is missing and extensions are not disabled, so a broken build is
    a failing test, not a silently skipped one.
    """
    twin = importlib.import_module(f"gateway._fast._{name}_py")
    if NO_EXTENSIONS:
        return [twin]
    return [importlib.import_module(f"gateway._fast._{name}"), twin]
