"""How the reconciler explains itself: ticket summaries, one-sentence reasons, evidence comments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from ticketbridge.core.index import RunFacts
from ticketbridge.core.model import (
    Observation,
    Ticket,
    TrackedCert,
    marker_label,
)
from ticketbridge.core.plan import Action, CertificateSummary, Change
from ticketbridge.core.policy import (
    describe_time_left,
    lead_days_for,
    local_date,
)
from ticketbridge.core.ports import MAX_SUMMARY
from ticketbridge.core.timefmt import iso_z

# Comments stay far below Jira's 32,767 characters even for a certificate on thousands of nodes.
MAX_LISTED_ENDPOINTS = 50


def join(*parts: str) -> str:
    return "; ".join(part for part in parts if part)


def iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def display(cert: TrackedCert) -> str:
    """The one name people know a certificate by: its CN when listed, else a wildcard."""
    names = cert.names
    for observation in cert.observations:
        common_name = observation.certificate.common_name if observation.certificate else None
        if common_name and common_name.strip().lower() in names:
            return common_name.strip().lower()
    wildcards = [name for name in names if name.startswith("*.")]
    if wildcards:
        return wildcards[0]
    return min(names, key=lambda name: (len(name), name)) if names else cert.id


def display_summary(summary: CertificateSummary) -> str:
    wildcards = [name for name in summary.names if name.startswith("*.")]
    if wildcards:
        return wildcards[0]
    if summary.names:
        return min(summary.names, key=lambda name: (len(name), name))
    return f"certificate {summary.id}"


def ticket_summary(cert: TrackedCert) -> str:
    name = display(cert)
    others = len(cert.names) - 1
    suffix = f" (+{others} name{'s' if others != 1 else ''})" if others > 0 else ""
    title = f"Renew TLS certificate {name}{suffix}"
    if len(title) > MAX_SUMMARY:
        keep = MAX_SUMMARY - len("Renew TLS certificate ") - len(suffix) - 1
        title = f"Renew TLS certificate {name[:keep]}…{suffix}"
    return title


def when(cert: TrackedCert, facts: RunFacts) -> str:
    return (
        f"{iso_z(cert.effective_not_after)} "
        f"({describe_time_left(cert.effective_not_after, facts.now)})"
    )


def due_explanation(cert: TrackedCert, facts: RunFacts) -> str:
    lead = lead_days_for(cert, facts.policy)
    expiry_day = local_date(cert.effective_not_after, facts.policy)
    return (
        f"{display(cert)} expires {expiry_day} ({facts.policy.timezone}), so it is due "
        f"{facts.required[cert.id]} with {lead} days' lead time"
    )


def earlier_reason(facts: RunFacts, cert: TrackedCert, current: date) -> str:
    """Why the due date moves earlier; names the certificate it was copied from if one fits."""
    earliest = _earliest_hosts(cert)
    expiry_day = local_date(cert.effective_not_after, facts.policy)
    for other_id in sorted(facts.by_required.get(current, ())):
        if other_id == cert.id:
            continue
        other = facts.certs[other_id]
        other_day = local_date(other.effective_not_after, facts.policy)
        verb = "serve" if " and " in earliest else "serves"
        return (
            f"due date tracked a certificate that expires {other_day} ({display(other)}); "
            f"{earliest} {verb} one expiring {expiry_day}"
        )
    return (
        f"due date {current} is later than required; {due_explanation(cert, facts)}, "
        f"as served by {earliest}"
    )


def _earliest_hosts(cert: TrackedCert) -> str:
    """The hosts serving the earliest-expiring copy of the certificate, or its first endpoint."""
    hosts = sorted(
        {
            observation.endpoint.host
            for observation in cert.observations
            if observation.effective_not_after == cert.effective_not_after
        }
    )
    if not hosts:
        hosts = sorted({endpoint.host for endpoint in cert.endpoints})
    return " and ".join(hosts[:3]) + (" and others" if len(hosts) > 3 else "") or cert.id


def stale_clause(cert: TrackedCert, facts: RunFacts) -> str:
    """Names the endpoints still serving an older copy when the others serve a renewal."""
    expiries = {o.effective_not_after for o in cert.observations if o.effective_not_after}
    if len(expiries) < 2:
        return ""
    oldest = min(expiries)
    stale = sorted({o.endpoint.label for o in cert.observations if o.effective_not_after == oldest})
    renewed = [
        o for o in cert.observations if o.effective_not_after and o.effective_not_after > oldest
    ]
    later = max(o.effective_not_after for o in renewed if o.effective_not_after)
    verb = "still serves" if len(stale) == 1 else "still serve"
    others = len({o.endpoint for o in renewed})
    return (
        f"{', '.join(stale)} {verb} the certificate expiring {iso_z(oldest)} while "
        f"{others} other endpoint{'s' if others != 1 else ''} serve{'s' if others == 1 else ''} "
        f"one expiring {iso_z(later)}, so the renewal is not done"
    )


def description(cert: TrackedCert, facts: RunFacts) -> str:
    lines = [
        f"The TLS certificate for {', '.join(cert.names)} expires "
        f"{iso_z(cert.effective_not_after)} and must be renewed and deployed to every endpoint "
        f"serving it by {facts.required[cert.id]}.",
        "",
        "Endpoints serving it when this ticket was filed:",
        *(f"- {label}" for label in cert.endpoint_labels[:MAX_LISTED_ENDPOINTS]),
        *(
            [f"- and {len(cert.endpoint_labels) - MAX_LISTED_ENDPOINTS} more"]
            if len(cert.endpoint_labels) > MAX_LISTED_ENDPOINTS
            else []
        ),
        "",
        f"ticketbridge tracks this renewal with the label {marker_label(cert.id)}: keep it. "
        "The ticket is resolved automatically once every endpoint serves the renewed certificate.",
    ]
    if cert.owner:
        lines.insert(1, f"Owner: {cert.owner}")
    return "\n".join(lines)


def evidence_of(
    cert: TrackedCert, ticket: Ticket | None, failures: Sequence[Observation]
) -> Mapping[str, Any]:
    """Machine-readable evidence the backend keeps: what served the certificate this run.

    Endpoints that could not be probed stay tracked, so a later run still waits for them.
    """
    failed = {o.endpoint.label for o in failures}
    kept = [label for label in (ticket.tracked_endpoints if ticket else ()) if label in failed]
    return {
        "certificate_id": cert.id,
        "endpoints": sorted(set(cert.endpoint_labels) | set(kept)),
        "fingerprints": list(cert.fingerprints),
        "effective_not_after": iso_z(cert.effective_not_after),
    }


def with_comments(facts: RunFacts, actions: list[Action]) -> list[Action]:
    """Gives every write the evidence comment of its ticket: one comment per ticket per run."""
    groups: dict[str, list[Action]] = defaultdict(list)
    for action in actions:
        if action.writes:
            groups[action.group].append(action)
    comments = {group: _comment(facts, members) for group, members in groups.items()}
    return [
        replace(action, comment=comments[action.group]) if action.writes else action
        for action in actions
    ]


_CHANGE_NAMES = {
    "duedate": "due date",
    "labels": "labels",
    "priority": "priority",
    "assignee": "assignee",
    "summary": "summary",
    "status": "status",
}


def _comment(facts: RunFacts, actions: list[Action]) -> str:
    actions = sorted(actions, key=Action.sort_key)
    certificate = actions[0].certificate
    kinds = ", ".join(dict.fromkeys(str(action.kind) for action in actions))
    lines = [f"ticketbridge {kinds} ({iso_z(facts.now)})", ""]
    lines.extend(f"- {action.kind}: {action.reason}." for action in actions)
    changes = [
        _change_line(name, change)
        for action in actions
        for name, change in sorted(action.fields.items())
    ]
    if changes:
        lines += ["", "Changes:", *changes]
    lines += ["", *_certificate_lines(facts, certificate)]
    for action in actions:
        for related in action.related:
            lines += ["", "Now served instead:", *_certificate_lines(facts, related)]
    return "\n".join(lines)


def _change_line(name: str, change: Change) -> str:
    label = _CHANGE_NAMES.get(name, name)
    if isinstance(change.before, list) or isinstance(change.after, list):
        old = change.before if isinstance(change.before, list) else []
        new = change.after if isinstance(change.after, list) else []
        added = [item for item in new if item not in old]
        return f"- {label}: added {', '.join(added)}"
    before = "(none)" if change.before is None else str(change.before)
    return f"- {label}: {before} -> {change.after}"


def _certificate_lines(facts: RunFacts, certificate: CertificateSummary) -> list[str]:
    lines = [f"Certificate {certificate.id}: {', '.join(certificate.names) or '(names unknown)'}"]
    if certificate.effective_not_after is not None:
        expiry = certificate.effective_not_after
        line = f"Effective expiry: {iso_z(expiry)}"
        if facts.policy.timezone != "UTC":
            local = expiry.astimezone(facts.policy.zone)
            line += f" ({local.strftime('%Y-%m-%d %H:%M %Z')}, {facts.policy.timezone})"
        lines.append(line)
    if certificate.fingerprints:
        lines.append(f"Fingerprints (SHA-256): {', '.join(certificate.fingerprints)}")
    if certificate.served:
        lines.append("Served by:")
        lines.extend(
            f"- {served.endpoint}"
            + (f" sha256 {served.fingerprint_sha256}" if served.fingerprint_sha256 else "")
            + (
                f" expires {iso_z(served.effective_not_after)}"
                if served.effective_not_after
                else ""
            )
            for served in certificate.served[:MAX_LISTED_ENDPOINTS]
        )
        if len(certificate.served) > MAX_LISTED_ENDPOINTS:
            lines.append(f"- and {len(certificate.served) - MAX_LISTED_ENDPOINTS} more")
    elif certificate.endpoints:
        listed = certificate.endpoints[:MAX_LISTED_ENDPOINTS]
        more = len(certificate.endpoints) - len(listed)
        lines.append(
            "Endpoints tracked: " + ", ".join(listed) + (f" and {more} more" if more else "")
        )
    return lines
