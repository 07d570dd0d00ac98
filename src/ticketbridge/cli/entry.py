"""The console script's entry point: answers `--version` before typer and the commands load."""

from __future__ import annotations

import sys


def main() -> None:
    """Run the command line; a bare `--version` prints without importing it (start-up is
    most of that command's cost, and scripts call it to check an install)."""
    if sys.argv[1:] == ["--version"]:
        from ticketbridge import __version__

        sys.stdout.write(f"ticketbridge {__version__}\n")
        return
    from ticketbridge.cli.commands import main as run_commands

    run_commands()
