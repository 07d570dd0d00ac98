"""The command line: the only home of typer and of rich output on a terminal."""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # as in ticketbridge/__init__.py: typing is not imported for `--version`
if TYPE_CHECKING:
    from typing import Any

    from ticketbridge.cli.commands import app, main

__all__ = ["app", "main"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `ticketbridge.cli.entry` can answer `--version` without importing typer.
    if name not in __all__:
        raise AttributeError(f"module 'ticketbridge.cli' has no attribute {name!r}")
    return getattr(importlib.import_module("ticketbridge.cli.commands"), name)
