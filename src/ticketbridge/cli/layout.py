"""Tables that never split a token: a grid when it fits the width, one block per row when it does not."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from rich.console import RenderableType

# Wide enough to measure a table's natural width without clamping it.
_UNBOUNDED = 100_000
# A table written to a pipe is laid out for its content, within these bounds: a reason of
# several hundred characters wraps (at spaces) rather than making every line that long.
PIPE_MIN_WIDTH = 80
PIPE_MAX_WIDTH = 220


def minimum_width(console: Console, options: ConsoleOptions, table: Table) -> int:
    """The narrowest width at which no cell has to break inside a word (an id, a
    host:port@address and a date are one word each)."""
    return Measurement.get(console, options.update_width(_UNBOUNDED), table).minimum


class Fitted:
    """`table` where its words fit the width; else `stacked()`, one block per row, which
    reads cleanly at 80 columns."""

    def __init__(self, table: Table, stacked: Callable[[], RenderableType]) -> None:
        self.table = table
        self.stacked = stacked

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if minimum_width(console, options, self.table) <= options.max_width:
            yield self.table
        else:
            yield self.stacked()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.table)


def blocks(title: str, rows: Iterable[tuple[Text, Sequence[tuple[str, RenderableType]]]]) -> Group:
    """The stacked form: a heading per row, then `key  value` lines (values wrap at spaces)."""
    parts: list[RenderableType] = [Text(title, style="italic")]
    for heading, fields in rows:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(overflow="fold")
        for key, value in fields:
            grid.add_row(key, value)
        parts.extend([Text(""), heading, grid])
    return Group(*parts)


def print_fitted(renderable: RenderableType, file: TextIO | None = None) -> None:
    """Print to a terminal at its width; to a pipe or a file at the content's width."""
    target = sys.stdout if file is None else file
    if (file is None and sys.stdout.isatty()) or os.environ.get("COLUMNS"):
        Console(file=target).print(renderable)
        return
    probe = Console(file=target, width=_UNBOUNDED, color_system=None)
    natural = Measurement.get(probe, probe.options, renderable).maximum
    width = max(PIPE_MIN_WIDTH, min(PIPE_MAX_WIDTH, natural))
    Console(file=target, width=width, color_system=None).print(renderable)
