"""Saved plans: the plan id (a digest of the writes), the facts it came from, and why it went stale.

A person approves a plan; `reconcile --plan` applies it only if a fresh plan would make exactly
the same writes (octoDNS's plan checksum, Terraform's saved plan). The id covers what would be
written — kinds, tickets, certificate ids, fields from/to — never the wording of reasons or
comments, nor timestamps, so yesterday's approval still holds if the same writes are due today.
When it does not hold, `stale_reasons` says what moved, from what to what.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import Ticket
from ticketbridge.core.plan import Action, Plan
from ticketbridge.core.timefmt import iso_z

# Version of the saved-plan document: a reader refuses a file written by a newer version.
SAVED_PLAN_VERSION = 1


def _canonical(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(value: object) -> str:
    return hashlib.sha256(_canonical(value)).hexdigest()


def write_key(action: Action) -> dict[str, Any]:
    """What one write action changes, with nothing a person wrote as prose."""
    return {
        "kind": str(action.kind),
        "ticket": action.ticket,
        "certificate": action.certificate.id,
        "fields": {name: change.as_dict() for name, change in sorted(action.fields.items())},
    }


def plan_writes(plan: Plan) -> list[dict[str, Any]]:
    """The plan's writes in a canonical order (report-only actions write nothing: not covered)."""
    keys = [write_key(action) for action in plan.actions if action.writes]
    return sorted(keys, key=_canonical)


def plan_id(plan: Plan) -> str:
    """Hex SHA-256 of the canonical JSON of the plan's writes (SPEC "Saved plans")."""
    return _digest(plan_writes(plan))


def endpoint_facts(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Per endpoint label: the certificate it served (id, fingerprint, effective expiry) or the
    kind of failure. Observation times are left out: the same facts seen later are the same."""
    facts: dict[str, dict[str, Any]] = {}
    for cert in inventory.certificates:
        for observation in cert.observations:
            served = observation.certificate
            expiry = observation.effective_not_after
            facts[observation.endpoint.label] = {
                "certificate": cert.id,
                "fingerprint": served.fingerprint_sha256 if served else None,
                "effective_not_after": iso_z(expiry) if expiry else None,
            }
    for observation in inventory.unobserved:
        kind = str(observation.error.kind) if observation.error else "unknown"
        facts.setdefault(observation.endpoint.label, {"error": kind})
    return dict(sorted(facts.items()))


def ticket_facts(tickets: Iterable[Ticket]) -> dict[str, dict[str, Any]]:
    """Per ticket key: the fields a plan reads."""
    return {
        ticket.key: {
            "status": ticket.status,
            "due_date": ticket.due_date.isoformat() if ticket.due_date else None,
            "priority": ticket.priority,
            "labels": sorted(ticket.labels),
            "assignee": ticket.assignee,
        }
        for ticket in sorted(tickets, key=lambda t: t.key)
    }


@dataclass(frozen=True, slots=True)
class PlanFacts:
    """What a plan was made from, in the form a saved plan keeps and compares."""

    endpoints: Mapping[str, Mapping[str, Any]]
    tickets: Mapping[str, Mapping[str, Any]]

    @classmethod
    def of(cls, inventory: Inventory, tickets: Iterable[Ticket]) -> PlanFacts:
        return cls(endpoint_facts(inventory), ticket_facts(tickets))

    def inputs(self) -> dict[str, dict[str, Any]]:
        """SPEC's `inputs`: digests of the observations and tickets the plan came from."""
        return {
            "observations": {"sha256": _digest(self.endpoints), "count": len(self.endpoints)},
            "tickets": {"sha256": _digest(self.tickets), "count": len(self.tickets)},
        }

    def as_dict(self) -> dict[str, Any]:
        return {"endpoints": dict(self.endpoints), "tickets": dict(self.tickets)}


def saved_plan(plan: Plan, facts: PlanFacts) -> dict[str, Any]:
    """The document `plan --out` writes: the plan JSON plus its id, inputs and facts."""
    document = plan.as_dict()
    document["version"] = SAVED_PLAN_VERSION
    document["plan_id"] = plan_id(plan)
    document["inputs"] = facts.inputs()
    document["facts"] = facts.as_dict()
    return document


def _served_text(fact: Mapping[str, Any] | None) -> str:
    if fact is None:
        return "nothing (not configured or not probed)"
    if "error" in fact:
        return f"no certificate ({fact['error']})"
    fingerprint = str(fact.get("fingerprint") or "")[:16]
    return (
        f"certificate {fact.get('certificate')} ({fingerprint}, "
        f"expiring {fact.get('effective_not_after')})"
    )


def _endpoint_changes(
    saved: Mapping[str, Mapping[str, Any]], fresh: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    reasons = []
    for label in sorted(set(saved) | set(fresh)):
        before, after = saved.get(label), fresh.get(label)
        if before != after:
            reasons.append(
                f"endpoint {label} served {_served_text(before)}, now {_served_text(after)}"
            )
    return reasons


def _ticket_changes(
    saved: Mapping[str, Mapping[str, Any]], fresh: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    reasons = []
    for key in sorted(set(saved) | set(fresh)):
        before, after = saved.get(key), fresh.get(key)
        if before == after:
            continue
        if before is None:
            reasons.append(f"ticket {key} appeared (status {after.get('status') if after else ''})")
        elif after is None:
            reasons.append(f"ticket {key} is no longer open (was {before.get('status')})")
        else:
            moved = [
                f"{name} {before.get(name)!r} -> {after.get(name)!r}"
                for name in sorted(set(before) | set(after))
                if before.get(name) != after.get(name)
            ]
            reasons.append(f"ticket {key} changed: {', '.join(moved)}")
    return reasons


def _write_text(write: Mapping[str, Any]) -> str:
    fields = write.get("fields") or {}
    changes = ", ".join(
        f"{name} {change.get('from')!r} -> {change.get('to')!r}"
        for name, change in sorted(fields.items())
    )
    target = write.get("ticket") or "a new ticket"
    text = f"{write.get('kind')} {target} for certificate {write.get('certificate')}"
    return f"{text} ({changes})" if changes else text


def _write_changes(saved: list[Any], fresh: list[dict[str, Any]]) -> list[str]:
    saved_keys = {_canonical(write): write for write in saved}
    fresh_keys = {_canonical(write): write for write in fresh}
    dropped = [
        f"no longer planned: {_write_text(w)}" for k, w in saved_keys.items() if k not in fresh_keys
    ]
    added = [
        f"newly planned: {_write_text(w)}" for k, w in fresh_keys.items() if k not in saved_keys
    ]
    return sorted(dropped) + sorted(added)


def saved_writes(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The writes of a saved plan document, recomputed from its actions as the file says them."""
    writes = []
    for action in document.get("actions") or []:
        if str(action.get("kind")) in {"ambiguous", "unobserved", "unplaceable"}:
            continue
        certificate = action.get("certificate") or {}
        writes.append(
            {
                "kind": action.get("kind"),
                "ticket": action.get("ticket"),
                "certificate": certificate.get("id"),
                "fields": dict(sorted((action.get("fields") or {}).items())),
            }
        )
    return sorted(writes, key=_canonical)


def saved_plan_id(document: Mapping[str, Any]) -> str:
    """The id the actions written in a saved plan hash to (equal to its `plan_id` unless edited)."""
    return _digest(saved_writes(document))


def stale_reasons(document: Mapping[str, Any], plan: Plan, facts: PlanFacts) -> list[str]:
    """Why a fresh plan differs from a saved one: facts that moved, then writes that differ."""
    saved_facts = document.get("facts") or {}
    reasons = _endpoint_changes(saved_facts.get("endpoints") or {}, facts.endpoints)
    reasons += _ticket_changes(saved_facts.get("tickets") or {}, facts.tickets)
    reasons += _write_changes(saved_writes(document), plan_writes(plan))
    if not reasons:
        # Same facts, same writes, different id: the policy, inventory or the file itself moved.
        reasons.append("the configuration or policy changed, or the saved file was edited")
    return reasons
