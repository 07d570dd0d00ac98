"""The public surface is pinned: every exported name resolves, and nothing is exported by accident."""

from __future__ import annotations

import subprocess
import sys

import ticketbridge
import ticketbridge.testing

EXPECTED = {
    "__version__",
    "Action",
    "ActionKind",
    "CertFacts",
    "Endpoint",
    "Inventory",
    "NewTicket",
    "Observation",
    "PageEvent",
    "Pager",
    "Plan",
    "Policy",
    "Ticket",
    "TicketEdit",
    "TicketSystem",
    "TicketbridgeError",
    "TrackedCert",
    "build_inventory",
    "decide",
}


def test_the_package_exports_exactly_its_public_surface() -> None:
    assert set(ticketbridge.__all__) == EXPECTED
    for name in ticketbridge.__all__:
        value = getattr(ticketbridge, name)
        assert value is not None
        if name != "__version__":
            assert value.__module__.startswith("ticketbridge."), name


def test_the_test_kit_keeps_its_import_path() -> None:
    assert set(ticketbridge.testing.__all__) == {"InMemoryPager", "InMemoryTicketSystem", "Write"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        ticketbridge.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("ticketbridge.NoSuchThing resolved")


def test_importing_the_package_loads_no_core_module() -> None:
    """The command line's start-up pays only for what a command uses."""
    code = "import sys, ticketbridge; print(sorted(m for m in sys.modules if m.startswith('ticketbridge.')))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_the_package_ships_its_type_information() -> None:
    from importlib.resources import files

    assert files("ticketbridge").joinpath("py.typed").is_file()
