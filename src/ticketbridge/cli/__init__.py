"""The command line: the only home of typer and of rich output on a terminal."""

from ticketbridge.cli.commands import app, main

__all__ = ["app", "main"]
