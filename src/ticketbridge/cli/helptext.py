"""What `--help` says beyond the options: examples per command, the exit codes, flags shown as flags."""

from __future__ import annotations

import typer.core
from typer._click import Context

# Typer's rich help labels an on/off flag with its Python type (`--debug <bool>`), as if it
# took a value; click's own help shows nothing for a flag. Show nothing, as click does.
_value_label = typer.core.TyperOption.display_type_rich


def _flag_label(self: typer.core.TyperOption, ctx: Context) -> str | None:
    return None if self.is_flag else _value_label(self, ctx)


typer.core.TyperOption.display_type_rich = _flag_label  # type: ignore[method-assign]

EXIT_CODES = """\
[bold]Exit codes[/bold]
  0  ok
  1  a run error: a ticket write failed, the ticket system was unreachable
  2  usage or configuration error (one line naming the file and key)
  3  changes pending (plan, reconcile --dry-run with --detailed-exitcode)
  4  more writes than max_changes (--force applies them)
  5  another run holds the lock
  6  a saved plan is stale
  130 interrupted, 143 terminated"""

MAIN = f"""\
Start: ticketbridge demo, then ticketbridge init NAME... in a directory of your own.

{EXIT_CODES}"""


def examples(*lines: str) -> str:
    """An epilog of example command lines (each kept on its own line by rich's help)."""
    return "Examples:\n\n" + "\n\n".join(f"  {line}" for line in lines)


SCAN = examples(
    "ticketbridge scan",
    "ticketbridge scan --expiring-within 30 --untrusted",
    "ticketbridge scan --format jsonl --output observations.jsonl",
)
PLAN = examples(
    "ticketbridge plan",
    "ticketbridge plan --format json --detailed-exitcode   # exit 3 when there is work",
)
RECONCILE = examples(
    "ticketbridge reconcile --metrics-file /var/lib/node_exporter/ticketbridge.prom",
    "ticketbridge reconcile --observations zone-a.jsonl --observations zone-b.jsonl",
)
TICKETS = examples(
    "ticketbridge tickets",
    "ticketbridge tickets --expiring-within 14 --name '*.example.com'",
)
DOCTOR = examples("ticketbridge doctor", "ticketbridge doctor --format json")
REPORT = examples(
    "ticketbridge report --output evidence.html",
    "ticketbridge report --format csv --since 2026-01-01 --until 2026-03-31",
)
AUDIT_VERIFY = examples("ticketbridge audit verify", "ticketbridge audit verify --log old.jsonl")
DEMO = examples("ticketbridge demo", "ticketbridge demo --workdir ./demo")
