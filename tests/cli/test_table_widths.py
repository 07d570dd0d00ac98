"""Tables as a person reads them at 80 and 200 columns: no id, endpoint or date is ever split."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable

import pytest
from rich.console import Console, RenderableType

from support.builders import NOW, failed, served, ticket
from support.decide_kit import at, open_ticket, plan, wildcard
from ticketbridge.cli.layout import print_fitted
from ticketbridge.cli.tables import plan_report, scan_report, tickets_table
from ticketbridge.core.inventory import Inventory, build_inventory
from ticketbridge.core.plan import Plan

LONG_HOSTS = ("api.payments-eu-west.example.com", "checkout.payments-eu-west.example.com")


def rendered(renderable: RenderableType, width: int) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, force_terminal=False).print(renderable)
    return buffer.getvalue()


def lines_with(text: str) -> list[str]:
    return [line.strip("│┃ ") for line in text.splitlines()]


def assert_whole(text: str, tokens: Iterable[str]) -> None:
    """Every token appears unbroken on some line (a table cell may pad it, never split it)."""
    for token in tokens:
        assert token in text, f"{token!r} was split or lost:\n{text}"


def assert_fits(text: str, width: int) -> None:
    assert max(len(line) for line in text.splitlines()) <= width, text


def fleet_inventory() -> Inventory:
    observations = [
        served(
            host, f"127.0.0.{13 + index}", ("*.payments-eu-west.example.com",), at(20), port=41529
        )
        for index, host in enumerate(LONG_HOSTS)
    ]
    observations.append(served("www.example.com", "127.0.0.20", ("www.example.com",), at(300)))
    observations.append(failed("legacy.internal.example.com", "127.0.0.30"))
    return build_inventory(observations)


@pytest.mark.parametrize("width", [80, 200])
def test_scan_table_keeps_ids_endpoints_and_dates_whole(width: int) -> None:
    inventory = fleet_inventory()
    text = rendered(scan_report(inventory, NOW), width)

    assert_fits(text, width)
    tokens = [c.id for c in inventory.certificates]
    tokens += [label for c in inventory.certificates for label in c.endpoint_labels]
    tokens += [c.effective_not_after.strftime("%Y-%m-%d") for c in inventory.certificates]
    tokens += ["legacy.internal.example.com:443@127.0.0.30", "Certificate" if width > 100 else "id"]
    assert_whole(text, tokens)


def incident_plan() -> Plan:
    return plan(wildcard(at(2)), [open_ticket("OPS-4417", due=at(300).date(), tracked=())])


@pytest.mark.parametrize("width", [80, 200])
def test_plan_table_wraps_the_reason_at_spaces_only(width: int) -> None:
    decided = incident_plan()
    text = rendered(plan_report(decided), width)

    assert_fits(text, width)
    action = decided.actions[0]
    assert_whole(text, [action.certificate.id, "OPS-4417"])
    for field, change in action.fields.items():
        if field == "duedate":
            assert_whole(text, [str(change.before), str(change.after)])
    # The reason is prose: it may wrap, but only between words.
    words = set(re.findall(r"\S+", " ".join(lines_with(text))))
    for reason_word in action.reason.split():
        assert any(reason_word in word for word in words), (reason_word, text)


@pytest.mark.parametrize("width", [80, 200])
def test_tickets_table_keeps_keys_dates_and_endpoints_whole(width: int) -> None:
    tracked = tuple(f"{host}:41529@127.0.0.13" for host in LONG_HOSTS)
    shown = [
        ticket(
            "OPS-10234", "Renew *.payments-eu-west.example.com", due=at(9).date(), tracked=tracked
        ),
        ticket("OPS-10235", "Renew www.example.com", due=at(280).date()),
    ]
    text = rendered(tickets_table(shown), width)

    assert_fits(text, width)
    assert_whole(text, ["OPS-10234", "OPS-10235", at(9).date().isoformat(), *tracked])


def test_a_pipe_lays_the_table_out_for_its_content(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a terminal and no COLUMNS: as wide as the content (within bounds), not 80."""
    monkeypatch.delenv("COLUMNS", raising=False)
    buffer = io.StringIO()
    print_fitted(plan_report(incident_plan()), buffer)
    text = buffer.getvalue()

    widest = max(len(line) for line in text.splitlines())
    assert 80 < widest <= 220
    assert "┃ Action" in text  # the grid, not the stacked fallback
