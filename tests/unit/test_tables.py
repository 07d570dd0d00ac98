"""Terminal tables: every value that came from a ticket system is shown inert, like a summary."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from support.builders import ticket
from ticketbridge.cli.tables import tickets_table

HOSTILE = "\x1b[2J\x1b[31mDone\u202e"


def rendered(*renderables: object) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None, force_terminal=False)
    for renderable in renderables:
        console.print(renderable)
    return buffer.getvalue()


def test_a_hostile_status_priority_and_key_cannot_drive_the_terminal() -> None:
    shown = replace(ticket("OPS-1", priority=HOSTILE), status=HOSTILE, key="OPS-1\x1b[1A")

    text = rendered(tickets_table([shown]))

    assert "\x1b" not in text and "\u202e" not in text
    assert "\\x1b[2J\\x1b[31mDone\\u202e" in text
    assert "OPS-1\\x1b[1A" in text
