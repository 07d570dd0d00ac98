"""DNS records to endpoints, shared by the zone-file and octoDNS sources: owners with addresses or
CNAMEs on the configured ports, CNAMEs followed inside the zone, SRV records of TLS services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ticketbridge.core.model import Protocol
from ticketbridge.sources.base import Skipped, SourceResult, Target

# SRV services whose target speaks TLS, and how the handshake starts. RFC 2782 names the owner
# `_Service._Proto.Name`; the service names come from the IANA registry:
#  - `_imaps`, `_pop3s`: implicit TLS (RFC 6186 section 3.2 and 3.3, RFC 8314 section 3.3);
#  - `_submissions`: message submission over implicit TLS (RFC 8314 section 3.3, port 465);
#  - `_submission`: message submission (RFC 6186 section 3.1, RFC 6409) upgraded with SMTP
#    STARTTLS (RFC 3207);
#  - `_ldaps`: LDAP over implicit TLS (IANA service name `ldaps`, port 636);
#  - `_https`: HTTP over TLS (IANA service name `https`, port 443).
TLS_SERVICES: dict[str, Protocol] = {
    "_https._tcp": Protocol.TLS,
    "_imaps._tcp": Protocol.TLS,
    "_pop3s._tcp": Protocol.TLS,
    "_submissions._tcp": Protocol.TLS,
    "_submission._tcp": Protocol.SMTP,
    "_ldaps._tcp": Protocol.TLS,
}

# RFC 1034 section 3.6.2 lets a CNAME chain be followed; a loop or an absurd chain ends here.
MAX_CNAME_HOPS = 16


@dataclass(slots=True)
class OwnerRecords:
    """The records of one owner name that matter here (names absolute, lower case, no dot)."""

    addresses: list[str] = field(default_factory=list)
    cname: str | None = None
    services: list[tuple[int, str]] = field(default_factory=list)  # SRV (port, target)


Records = dict[str, OwnerRecords]


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def endpoints_from_records(
    records: Records, zone: str, ports: Sequence[int], label: str
) -> SourceResult:
    """Every owner with A/AAAA/CNAME on every port, at the addresses the zone gives it; SRV
    records of TLS services at their target and port; wildcards and dead ends reported."""
    result = SourceResult(source=label)
    for owner in sorted(records):
        entry = records[owner]
        if entry.services:
            _services(records, zone, owner, entry, label, result)
        if not entry.addresses and entry.cname is None:
            continue
        if owner.startswith("*."):
            # RFC 4592: a wildcard answers for names nobody listed; there is no one name to probe.
            result.skipped.append(
                Skipped(owner, "wildcard owner: list the names it serves as [[endpoints]]", label)
            )
            continue
        where = _addresses_of(records, zone, owner)
        if isinstance(where, Skipped):
            result.skipped.append(Skipped(owner, where.reason, label))
            continue
        addresses, resolve_name = where
        result.targets.extend(
            Target(
                host=owner,
                port=port,
                source=label,
                addresses=addresses,
                sni=owner,
                resolve_name=resolve_name,
            )
            for port in ports
        )
    return result


def _services(
    records: Records,
    zone: str,
    owner: str,
    entry: OwnerRecords,
    label: str,
    result: SourceResult,
) -> None:
    service = ".".join(owner.split(".")[:2])
    protocol = TLS_SERVICES.get(service)
    if protocol is None:
        return
    for port, target in entry.services:
        if not target:
            # RFC 2782: a target of "." means the service is decidedly not available here.
            continue
        where = _addresses_of(records, zone, target)
        if isinstance(where, Skipped):
            result.skipped.append(Skipped(f"{owner} -> {target}", where.reason, label))
            continue
        addresses, resolve_name = where
        result.targets.append(
            Target(
                host=target,
                port=port,
                source=label,
                addresses=addresses,
                sni=target,
                protocol=protocol,
                resolve_name=resolve_name,
            )
        )


def _addresses_of(
    records: Records, zone: str, name: str
) -> tuple[tuple[str, ...], str | None] | Skipped:
    """The zone's addresses for `name` (CNAMEs followed inside the zone), or the name outside
    the zone to resolve, or why there is nothing to probe."""
    seen = [name]
    current = name
    for _ in range(MAX_CNAME_HOPS):
        entry = records.get(current)
        if entry is None:
            if in_zone(current, zone):
                return Skipped(name, f"CNAME to {current}, which has no records in the zone", "")
            # Outside the zone the zone is no authority: the resolver answers for the target.
            return (), (current if current != name else None)
        if entry.addresses:
            return tuple(dict.fromkeys(entry.addresses)), None
        if entry.cname is None:
            return Skipped(name, f"{current} has no A, AAAA or CNAME record", "")
        current = entry.cname
        if current in seen:
            return Skipped(name, f"CNAME loop: {' -> '.join([*seen, current])}", "")
        seen.append(current)
    return Skipped(name, f"CNAME chain longer than {MAX_CNAME_HOPS}", "")
