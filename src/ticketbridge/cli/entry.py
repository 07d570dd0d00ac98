"""The console script's entry point: answers `--version` before typer and the commands load."""

from __future__ import annotations

import os
import sys


def main() -> None:
    """Run the command line; a bare `--version` prints without importing it (start-up is
    most of that command's cost, and scripts call it to check an install)."""
    if sys.argv[1:] == ["--version"]:
        from ticketbridge import __version__

        sys.stdout.write(f"ticketbridge {__version__}\n")
        return
    # pydantic looks for plugins in the entry points of every installed distribution the first
    # time it builds a validator: tens of milliseconds of metadata reading in a venv of a
    # hundred packages, for plugins a command-line tool never uses. Its documented switch
    # (docs.pydantic.dev, "Plugins": PYDANTIC_DISABLE_PLUGINS) turns the search off, unless
    # the environment already says otherwise.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from ticketbridge.cli.commands import main as run_commands

    run_commands()
