"""ticketbridge: track the certificates actually served and keep their renewal tickets honest.

The public surface is what `__all__` lists; each name is imported on first use, so the command
line's start-up pays only for what a command runs. `ticketbridge.testing` holds the fakes for
users' own tests, and `ticketbridge.errors` every error with its exit code.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Not `typing.TYPE_CHECKING`: importing typing is a fifth of `--version`'s start-up, and type
# checkers treat any constant of this name the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ticketbridge.core.decide import decide
    from ticketbridge.core.inventory import Inventory, build_inventory
    from ticketbridge.core.model import CertFacts, Endpoint, Observation, Ticket, TrackedCert
    from ticketbridge.core.plan import Action, ActionKind, PageEvent, Plan
    from ticketbridge.core.policy import Policy
    from ticketbridge.core.ports import NewTicket, Pager, TicketEdit, TicketSystem
    from ticketbridge.errors import TicketbridgeError

_PUBLIC: dict[str, str] = {
    "Action": "ticketbridge.core.plan",
    "ActionKind": "ticketbridge.core.plan",
    "CertFacts": "ticketbridge.core.model",
    "Endpoint": "ticketbridge.core.model",
    "Inventory": "ticketbridge.core.inventory",
    "NewTicket": "ticketbridge.core.ports",
    "Observation": "ticketbridge.core.model",
    "PageEvent": "ticketbridge.core.plan",
    "Pager": "ticketbridge.core.ports",
    "Plan": "ticketbridge.core.plan",
    "Policy": "ticketbridge.core.policy",
    "Ticket": "ticketbridge.core.model",
    "TicketEdit": "ticketbridge.core.ports",
    "TicketSystem": "ticketbridge.core.ports",
    "TicketbridgeError": "ticketbridge.errors",
    "TrackedCert": "ticketbridge.core.model",
    "build_inventory": "ticketbridge.core.inventory",
    "decide": "ticketbridge.core.decide",
}

__all__ = [
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
    "__version__",
    "build_inventory",
    "decide",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'ticketbridge' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
