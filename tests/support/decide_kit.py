"""Helpers for the decider's pinning tests: one small world and a whole-action view to compare."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from support.builders import NOW, WILDCARD, cert_id, fingerprint, inventory, markers, served, ticket
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import InventoryPin
from ticketbridge.core.model import Observation, Ticket
from ticketbridge.core.plan import Action, Plan
from ticketbridge.core.policy import Policy

__all__ = [
    "API",
    "APP",
    "NOW",
    "URL",
    "WILDCARD",
    "W",
    "at",
    "change",
    "day",
    "evidence",
    "expect",
    "fp",
    "iso",
    "open_ticket",
    "plan",
    "whole",
    "wildcard",
]

W = cert_id(WILDCARD)
APP = "app.example.com:443@192.0.2.10"
API = "api.example.com:443@192.0.2.11"
URL = "https://jira.example.com/browse/"


def at(days: float = 0, **delta: float) -> datetime:
    return NOW + timedelta(days=days, **delta)


def wildcard(expiry: datetime, *, hosts: Sequence[str] = ("app", "api")) -> list[Observation]:
    addresses = {"app": "192.0.2.10", "api": "192.0.2.11"}
    return [served(f"{h}.example.com", addresses[h], WILDCARD, expiry) for h in hosts]


def fp(expiry: datetime, names: Sequence[str] = WILDCARD) -> str:
    return fingerprint(names, expiry)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def open_ticket(key: str = "OPS-1", **changes: Any) -> Ticket:
    """A marker ticket on the wildcard with a URL, tracking both endpoints, as ticketbridge left it."""
    fields: dict[str, Any] = {"labels": markers(WILDCARD), "tracked": (API, APP)}
    fields.update(changes)
    url = fields.pop("url", URL + key)
    return replace(ticket(key, "Renew TLS certificate *.example.com (+1 name)", **fields), url=url)


def plan(
    observations: Sequence[Observation],
    tickets: Sequence[Ticket] = (),
    policy: Policy | None = None,
    *,
    pins: Sequence[InventoryPin] = (),
    paging: bool = True,
) -> Plan:
    return decide(
        inventory(*observations, pins=pins), tickets, policy or Policy(), NOW, paging=paging
    )


def whole(action: Action) -> dict[str, Any]:
    """Everything an action decides, minus the shared comment (pinned on its own)."""
    return {
        "kind": str(action.kind),
        "ticket": action.ticket,
        "certificate": action.certificate.id,
        "fields": {name: change.as_dict() for name, change in action.fields.items()},
        "reason": action.reason,
        "edit": action.edit,
        "new_ticket": action.new_ticket,
        "page": action.page.as_dict() if action.page else None,
        "related": [summary.id for summary in action.related],
        "unobserved": [endpoint.as_dict() for endpoint in action.unobserved],
        "ticket_url": action.ticket_url,
        "paged": action.paged,
    }


def expect(kind: str, ticket_key: str | None, **parts: Any) -> dict[str, Any]:
    """The whole action a test expects; unnamed parts take their empty value."""
    document: dict[str, Any] = {
        "kind": kind,
        "ticket": ticket_key,
        "certificate": W,
        "fields": {},
        "reason": "",
        "edit": None,
        "new_ticket": None,
        "page": None,
        "related": [],
        "unobserved": [],
        "ticket_url": URL + ticket_key if ticket_key else None,
        "paged": False,
    }
    document.update(parts)
    return document


def evidence(expiry: datetime, endpoints: Sequence[str] = (API, APP)) -> dict[str, Any]:
    """The machine-readable evidence a write stores: what served the certificate this run."""
    return {
        "certificate_id": W,
        "endpoints": sorted(endpoints),
        "fingerprints": [fp(expiry)],
        "effective_not_after": iso(expiry),
    }


def change(before: Any, after: Any) -> dict[str, Any]:
    return {"from": before, "to": after}


def day(moment: datetime, minus: int = 0) -> date:
    return moment.date() - timedelta(days=minus)
