"""How the reconciler explains itself: ticket summaries, one-sentence reasons, evidence comments."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

from ticketbridge.core.fields import (
    MAX_PROPERTY,
    evidence_size,
    fit,
    listed,
    shorten,
)
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
from ticketbridge.core.timefmt import iso_z

# Comments stay far below Jira's 32,767 characters even for a certificate on thousands of nodes;
# `fields.fit` is the backstop. The full lists are in the audit trail and the report.
MAX_LISTED_ENDPOINTS = 50
# Characters of names listed on one line of a description or comment.
NAMES_BUDGET = 2_000


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
            return shorten(common_name.strip().lower())
    wildcards = [name for name in names if name.startswith("*.")]
    if wildcards:
        return shorten(wildcards[0])
    return shorten(min(names, key=lambda name: (len(name), name))) if names else cert.id


def display_summary(summary: CertificateSummary) -> str:
    wildcards = [name for name in summary.names if name.startswith("*.")]
    if wildcards:
        return shorten(wildcards[0])
    if summary.names:
        return shorten(min(summary.names, key=lambda name: (len(name), name)))
    return f"certificate {summary.id}"


def expiry_phrase(cert: TrackedCert, facts: RunFacts) -> str:
    """`expires in 9 days` or `expired 2,373 days ago`: the verb agrees with the tense."""
    timing = describe_time_left(cert.effective_not_after, facts.now)
    return timing if timing.startswith("expired") else f"expires {timing}"


def ticket_summary(cert: TrackedCert) -> str:
    """Fits MAX_SUMMARY by construction: `display` shortens the name to MAX_SHOWN_TEXT (200)
    characters, and 22 for the prefix plus a count suffix leave more than 30 to spare."""
    others = len(cert.names) - 1
    suffix = f" (+{others} name{'s' if others != 1 else ''})" if others > 0 else ""
    return f"Renew TLS certificate {display(cert)}{suffix}"


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
    # Only called when the required date is earlier than `current`: the certificates due on
    # `current` are all others.
    for other_id in sorted(facts.by_required.get(current, ())):
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
    shown = [shorten(host) for host in hosts[:3]]
    return " and ".join(shown) + (" and others" if len(hosts) > 3 else "") or cert.id


def off_path_clause(cert: TrackedCert, facts: RunFacts) -> str:
    """What to do when the effective expiry comes from a served certificate off the validated
    path (SPEC "Effective expiry"): clients that build through it break when it expires."""
    found = {
        served.fingerprint_sha256: served
        for observation in cert.observations
        if observation.effective_not_after == cert.effective_not_after
        and (served := observation.off_path_expiry) is not None
    }
    if not found:
        return ""
    served = min(found.values(), key=lambda facts_: (facts_.not_after, facts_.subject))
    tense = "expired" if served.not_after <= facts.now else "expires"
    return (
        f"the served chain still includes {shorten(served.subject)} ({tense} "
        f"{iso_z(served.not_after)}), which older clients may use: remove it from the chain "
        "or renew it"
    )


def stale_clause(cert: TrackedCert) -> str:
    """Names the endpoints still serving an older copy when the others serve a renewal.

    The others are grouped by what they really serve: one later certificate, or several.
    """
    expiries = {o.effective_not_after for o in cert.observations if o.effective_not_after}
    if len(expiries) < 2:
        return ""
    oldest = min(expiries)
    stale = sorted({o.endpoint.label for o in cert.observations if o.effective_not_after == oldest})
    renewed = [
        o for o in cert.observations if o.effective_not_after and o.effective_not_after > oldest
    ]
    verb = "still serves" if len(stale) == 1 else "still serve"
    others = len({o.endpoint for o in renewed})
    # An observation without its certificate (never one from the inventory) is a certificate
    # of its own: None is no fingerprint.
    served = {
        (o.certificate.fingerprint_sha256 if o.certificate else None, o.effective_not_after)
        for o in renewed
    }
    expiring = sorted({expiry for _, expiry in served if expiry})
    serve = "serves" if others == 1 else "serve"
    if len(served) == 1:
        what = f"one expiring {iso_z(expiring[0])}"
    elif len(expiring) == 1:
        what = f"{len(served)} different certificates, all expiring {iso_z(expiring[0])}"
    else:
        what = (
            f"{len(served)} different certificates expiring "
            f"{iso_z(expiring[0])} to {iso_z(expiring[-1])}"
        )
    return (
        f"{listed(stale, 400)} {verb} the certificate expiring {iso_z(oldest)} while "
        f"{others} other endpoint{'s' if others != 1 else ''} {serve} {what}, "
        "so the renewal is not done"
    )


def description(cert: TrackedCert, facts: RunFacts) -> str:
    labels = cert.endpoint_labels
    lines = [
        f"The TLS certificate for {listed(cert.names, NAMES_BUDGET)} expires "
        f"{iso_z(cert.effective_not_after)} and must be renewed and deployed to every endpoint "
        f"serving it by {facts.required[cert.id]}.",
        "",
        "Endpoints serving it when this ticket was filed:",
        *(f"- {shorten(label)}" for label in labels[:MAX_LISTED_ENDPOINTS]),
        *(
            [f"- and {len(labels) - MAX_LISTED_ENDPOINTS:,} more"]
            if len(labels) > MAX_LISTED_ENDPOINTS
            else []
        ),
        "",
        f"ticketbridge tracks this renewal with the label {marker_label(cert.id)}: keep it. "
        "The ticket is resolved automatically once every endpoint serves the renewed certificate.",
    ]
    off_path = off_path_clause(cert, facts)
    if off_path:
        lines[1:1] = ["", off_path[0].upper() + off_path[1:] + "."]
    if cert.owner:
        lines.insert(1, f"Owner: {shorten(cert.owner)}")
    return fit("\n".join(lines))


def evidence_of(
    cert: TrackedCert, ticket: Ticket | None, failures: Sequence[Observation]
) -> Mapping[str, Any]:
    """Machine-readable evidence the backend keeps: what served the certificate this run.

    Endpoints that could not be probed stay tracked, so a later run still waits for them. The
    value stays within the issue-property limit: past it, the last endpoints and fingerprints
    are left out and counted (the audit trail keeps them all).
    """
    failed = {o.endpoint.label for o in failures}
    kept = [label for label in (ticket.tracked_endpoints if ticket else ()) if label in failed]
    evidence: dict[str, Any] = {
        "certificate_id": cert.id,
        "endpoints": sorted(set(cert.endpoint_labels) | set(kept)),
        "fingerprints": list(cert.fingerprints),
        "effective_not_after": iso_z(cert.effective_not_after),
    }
    return _bounded_evidence(evidence)


def _bounded_evidence(evidence: dict[str, Any]) -> dict[str, Any]:
    # The certificate id is added again by the backends; leave room for it and the counts.
    limit = MAX_PROPERTY - 200
    for key in ("endpoints", "fingerprints"):
        items: list[str] = evidence[key]
        if _size_uncounted(evidence) <= limit:
            break
        overflow = _size_uncounted(evidence) - limit
        keep = len(items)
        while keep > 0 and overflow > 0:
            keep -= 1
            overflow -= len(items[keep].encode()) + 3
        evidence[key] = items[:keep]
        evidence[f"{key}_omitted"] = len(items) - keep
    return evidence


def _size_uncounted(evidence: dict[str, Any]) -> int:
    """The evidence's size without the counts of what was left out: the room kept free below
    the limit holds them, so the endpoints' count must not cost a fingerprint its place."""
    return evidence_size({k: v for k, v in evidence.items() if not k.endswith("_omitted")})


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
    changes = [_change_line(name, change) for name, change in _merged_changes(actions).items()]
    if changes:
        lines += ["", "Changes:", *changes]
    lines += ["", *_certificate_lines(facts, certificate)]
    for action in actions:
        for related in action.related:
            lines += ["", "Now served instead:", *_certificate_lines(facts, related)]
    return fit("\n".join(lines))


def _merged_changes(actions: Sequence[Action]) -> dict[str, Change]:
    """One change per field: what it was before the first action, what it is after the last
    (a create that sets the priority and the escalation that sets it again are one change)."""
    merged: dict[str, Change] = {}
    for action in actions:
        for name, change in sorted(action.fields.items()):
            first = merged.get(name)
            merged[name] = change if first is None else Change(first.before, change.after)
    return {name: change for name, change in merged.items() if change.before != change.after}


def _change_line(name: str, change: Change) -> str:
    label = _CHANGE_NAMES.get(name, name)
    if isinstance(change.before, list) or isinstance(change.after, list):
        old = change.before if isinstance(change.before, list) else []
        new = change.after if isinstance(change.after, list) else []
        added = [item for item in new if item not in old]
        return f"- {label}: added {listed([str(item) for item in added], NAMES_BUDGET)}"
    before = "(none)" if change.before is None else shorten(str(change.before))
    return f"- {label}: {before} -> {shorten(str(change.after))}"


def _certificate_lines(facts: RunFacts, certificate: CertificateSummary) -> list[str]:
    names = listed(certificate.names, NAMES_BUDGET) or "(names unknown)"
    lines = [f"Certificate {certificate.id}: {names}"]
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
            f"- {shorten(served.endpoint)}"
            + (f" sha256 {served.fingerprint_sha256}" if served.fingerprint_sha256 else "")
            + (
                f" expires {iso_z(served.effective_not_after)}"
                if served.effective_not_after
                else ""
            )
            for served in certificate.served[:MAX_LISTED_ENDPOINTS]
        )
        if len(certificate.served) > MAX_LISTED_ENDPOINTS:
            lines.append(f"- and {len(certificate.served) - MAX_LISTED_ENDPOINTS:,} more")
    elif certificate.endpoints:
        lines.append("Endpoints tracked: " + listed(certificate.endpoints, NAMES_BUDGET))
    if certificate.strays:
        lines.append("Also served, on no path from the certificate (not counted):")
        lines.extend(
            f"- {shorten(stray.subject)} sha256 {stray.fingerprint_sha256} "
            f"expires {iso_z(stray.not_after)}"
            for stray in certificate.strays[:MAX_LISTED_ENDPOINTS]
        )
    return lines
