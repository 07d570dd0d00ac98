"""Issued versus served: certificates logged in Certificate Transparency compared with what this
run saw served, per tracked certificate (findings, not tickets)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import CertFacts, Protocol, TrackedCert
from ticketbridge.core.x509facts import canonical_name


@dataclass(frozen=True, slots=True)
class LoggedCert:
    """One certificate or precertificate a CT log holds, as a CT export describes it.

    A precertificate and the certificate issued from it share issuer and serial (RFC 6962
    section 3.1): the serial is what ties a log entry to a served leaf.
    """

    serial: str  # lower-case hex, no leading zeros (as CertFacts.serial)
    names: tuple[str, ...]  # canonical DNS names
    not_before: datetime
    not_after: datetime
    issuer: str
    source: str
    precertificate: bool = False
    logged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedNotDeployed:
    """A certificate issued for a tracked certificate's names, newer than what is served, that
    no endpoint we looked at serves: a renewal issued but never deployed."""

    certificate_id: str
    logged: LoggedCert
    served_not_after: datetime


@dataclass(frozen=True, slots=True)
class ServedNotLogged:
    """A served leaf whose serial no CT entry for its names carries (a private CA, or a problem)."""

    certificate_id: str
    leaf: CertFacts
    endpoints: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UnlistedName:
    """A name certificates were issued for that no source lists: a candidate for `[[endpoints]]`."""

    name: str
    serials: tuple[str, ...]
    certificate_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CtFindings:
    logged: int
    issued_not_deployed: tuple[IssuedNotDeployed, ...]
    served_not_logged: tuple[ServedNotLogged, ...]
    unlisted_names: tuple[UnlistedName, ...]


def normalised_serial(text: str) -> str:
    """`03:FF:ee` and `3ffee` are one serial: lower-case hex without separators or leading zeros."""
    cleaned = text.strip().replace(":", "").replace(" ", "").lower()
    negative = cleaned.startswith("-")
    digits = cleaned.lstrip("-").lstrip("0") or "0"
    return ("-" if negative else "") + digits


def ct_findings(
    inventory: Inventory,
    logged: Sequence[LoggedCert],
    listed_hosts: Iterable[str],
    now: datetime,
    domains: Sequence[str] = (),
) -> CtFindings:
    """Compare what CT says was issued with what the run saw served on the network."""
    served = _served_leaves(inventory.certificates)
    served_serials = {leaf.serial for leaves in served.values() for leaf, _ in leaves}
    logged_serials = {entry.serial for entry in logged}
    current = [entry for entry in _one_per_serial(logged) if entry.not_after > now]
    issued: list[IssuedNotDeployed] = []
    unlogged: list[ServedNotLogged] = []
    for cert in inventory.certificates:
        leaves = served.get(cert.id, [])
        if not leaves:
            continue
        names = set(cert.names)
        newest = max(leaf.not_after for leaf, _ in leaves)
        issued.extend(
            IssuedNotDeployed(cert.id, entry, newest)
            for entry in current
            if names & set(entry.names)
            and entry.serial not in served_serials
            and entry.not_after > newest
        )
        if _covered(names, logged, domains):
            unlogged.extend(
                ServedNotLogged(cert.id, leaf, endpoints)
                for leaf, endpoints in leaves
                if leaf.serial not in logged_serials
            )
    return CtFindings(
        logged=len(logged),
        issued_not_deployed=tuple(issued),
        served_not_logged=tuple(unlogged),
        unlisted_names=_unlisted(current, listed_hosts, inventory.certificates),
    )


def _served_leaves(
    certificates: Iterable[TrackedCert],
) -> dict[str, list[tuple[CertFacts, tuple[str, ...]]]]:
    """Each tracked certificate's distinct network-served leaves and the endpoints serving each."""
    served: dict[str, list[tuple[CertFacts, tuple[str, ...]]]] = {}
    for cert in certificates:
        by_fingerprint: dict[str, tuple[CertFacts, list[str]]] = {}
        for observation in cert.observations:
            leaf = observation.certificate
            if leaf is None or observation.endpoint.protocol is Protocol.FILE:
                continue  # a file on disk is not served: a renewal only there is not deployed
            entry = by_fingerprint.setdefault(leaf.fingerprint_sha256, (leaf, []))
            entry[1].append(observation.endpoint.label)
        if by_fingerprint:
            served[cert.id] = [
                (leaf, tuple(sorted(labels))) for leaf, labels in by_fingerprint.values()
            ]
    return served


def _one_per_serial(logged: Iterable[LoggedCert]) -> list[LoggedCert]:
    """A precertificate and its certificate are one issuance: keep the certificate if logged."""
    chosen: dict[str, LoggedCert] = {}
    for entry in logged:
        kept = chosen.get(entry.serial)
        if kept is None or (kept.precertificate and not entry.precertificate):
            chosen[entry.serial] = entry
    return sorted(chosen.values(), key=lambda entry: (entry.not_before, entry.serial))


def _covered(names: set[str], logged: Sequence[LoggedCert], domains: Sequence[str]) -> bool:
    """Whether the CT input speaks for these names at all: a domain it was configured for, or
    a logged certificate for one of them. An export for example.com says nothing of example.org."""
    wanted = [canonical_name(domain) for domain in domains]
    for name in names:
        bare = name.removeprefix("*.")
        if any(bare == domain or bare.endswith("." + domain) for domain in wanted):
            return True
    return any(names & set(entry.names) for entry in logged)


def _unlisted(
    current: Sequence[LoggedCert], listed_hosts: Iterable[str], certificates: Sequence[TrackedCert]
) -> tuple[UnlistedName, ...]:
    listed = {canonical_name(host) for host in listed_hosts}
    serials: dict[str, list[str]] = {}
    for entry in current:
        for name in entry.names:
            # A wildcard is no name to list: it is reported through the names it serves.
            if name.startswith("*.") or name in listed:
                continue
            serials.setdefault(name, []).append(entry.serial)
    return tuple(
        UnlistedName(
            name=name,
            serials=tuple(sorted(set(found))),
            certificate_ids=tuple(sorted(cert.id for cert in certificates if name in cert.names)),
        )
        for name, found in sorted(serials.items())
    )
