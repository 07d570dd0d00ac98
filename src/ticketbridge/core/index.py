"""The facts of one planning run, indexed once: certificates by name and host, required due
dates, and the probes that failed; pure, like the reconciler that reads them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from ticketbridge.core.inventory import Inventory
from ticketbridge.core.model import (
    Observation,
    Protocol,
    Ticket,
    TrackedCert,
)
from ticketbridge.core.plan import (
    CertificateSummary,
)
from ticketbridge.core.policy import (
    Policy,
    required_due_date,
    unplaceable,
)


@dataclass(slots=True)
class RunFacts:
    policy: Policy
    now: datetime
    paging: bool
    certs: dict[str, TrackedCert]
    summaries: dict[str, CertificateSummary]
    required: dict[str, date]
    by_name: dict[str, set[str]]
    by_host: dict[str, set[str]]
    # endpoint label -> earliest effective expiry served there this run, and by which certs
    served_expiry: dict[str, datetime]
    served_ids: dict[str, set[str]]
    failed_by_label: dict[str, list[Observation]]
    failed_by_host: dict[str, list[Observation]]
    # failed probes of a host serving the certificate now (another load-balancer node, say)
    failed_at_host: dict[str, list[Observation]]
    # failed probes of a host the certificate names, literally or by wildcard
    failed_at_name: dict[str, list[Observation]]
    # required due date -> certificates due then: explains a due date copied from another one
    by_required: dict[date, list[str]]
    # certificates whose expiry has no due date in the policy's zone: reported, never planned
    unplaceable: dict[str, tuple[TrackedCert, str]]

    @classmethod
    def gather(cls, inventory: Inventory, policy: Policy, now: datetime, paging: bool) -> RunFacts:
        certs = _merge_same_id(inventory.certificates)
        # One fact the calendar cannot hold stops that certificate, never the whole run.
        problems = {cert_id: unplaceable(cert, policy) for cert_id, cert in certs.items()}
        unplaceable_certs = {
            cert_id: (certs.pop(cert_id), problem)
            for cert_id, problem in problems.items()
            if problem is not None
        }
        served = _ServedIndex.of(certs, policy)
        failed = _FailedIndex.of(inventory.unobserved, served.by_name, served.by_host)
        return cls(
            policy=policy,
            now=now,
            paging=paging,
            certs=certs,
            summaries={cert_id: CertificateSummary.of(cert) for cert_id, cert in certs.items()},
            required=served.required,
            by_name=dict(served.by_name),
            by_host=dict(served.by_host),
            served_expiry=served.expiry,
            served_ids=dict(served.ids),
            failed_by_label=dict(failed.by_label),
            failed_by_host=dict(failed.by_host),
            failed_at_host=dict(failed.at_host),
            failed_at_name=dict(failed.at_name),
            by_required=dict(served.by_required),
            unplaceable=unplaceable_certs,
        )

    def failures(
        self, cert_id: str | None, ticket: Ticket | None, *, by_name: bool = True
    ) -> list[Observation]:
        """Failed probes that may have served this certificate or that this ticket tracks.

        `by_name` widens the net to every host the certificate names (wildcards included):
        without a record of the endpoints a ticket tracked, any of them might serve it.
        """
        found: dict[Any, Observation] = {}
        if cert_id is not None:
            related = list(self.failed_at_host.get(cert_id, ()))
            if by_name:
                related.extend(self.failed_at_name.get(cert_id, ()))
            for observation in related:
                found[observation.endpoint] = observation
        if ticket is not None:
            for label in ticket.tracked_endpoints:
                candidates = list(self.failed_by_label.get(label, ()))
                host = _label_host(label)
                if host is not None:
                    candidates.extend(self.failed_by_host.get(host, ()))
                for observation in candidates:
                    found[observation.endpoint] = observation
        return [found[endpoint] for endpoint in sorted(found)]


def _host(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _label_host(label: str) -> str | None:
    """The host of a `host:port@address` label; None for certificate files."""
    if label.startswith("file:"):
        return None
    host_port = label.split("@", 1)[0]
    return _host(host_port.rsplit(":", 1)[0]) if ":" in host_port else _host(host_port)


def _served_expiries(cert: TrackedCert) -> list[tuple[str, datetime]]:
    if not cert.observations:
        return [(label, cert.effective_not_after) for label in cert.endpoint_labels]
    return [
        (observation.endpoint.label, observation.effective_not_after or cert.effective_not_after)
        for observation in cert.observations
    ]


def _merge_same_id(certificates: Sequence[TrackedCert]) -> dict[str, TrackedCert]:
    """Two name sets pinned to one id are one tracked certificate: the earliest expiry wins."""
    merged: dict[str, TrackedCert] = {}
    for cert in sorted(certificates, key=lambda c: (c.id, c.names)):
        seen = merged.get(cert.id)
        if seen is None:
            merged[cert.id] = cert
            continue
        merged[cert.id] = replace(
            seen,
            names=tuple(sorted(set(seen.names) | set(cert.names))),
            effective_not_after=min(seen.effective_not_after, cert.effective_not_after),
            fingerprints=tuple(sorted(set(seen.fingerprints) | set(cert.fingerprints))),
            endpoints=tuple(sorted(set(seen.endpoints) | set(cert.endpoints))),
            observations=seen.observations + cert.observations,
        )
    return merged


@dataclass
class _ServedIndex:
    """Where each certificate is served: by name, by host, by endpoint label, by due date."""

    by_name: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_host: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    expiry: dict[str, datetime] = field(default_factory=dict)
    ids: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    required: dict[str, date] = field(default_factory=dict)
    by_required: dict[date, list[str]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(cls, certs: Mapping[str, TrackedCert], policy: Policy) -> _ServedIndex:
        index = cls()
        for cert_id, cert in certs.items():
            for name in cert.names:
                index.by_name[name].add(cert_id)
            for endpoint in cert.endpoints:
                if endpoint.protocol is not Protocol.FILE:
                    index.by_host[_host(endpoint.host)].add(cert_id)
            for label, expiry in _served_expiries(cert):
                index.ids[label].add(cert_id)
                previous = index.expiry.get(label)
                index.expiry[label] = expiry if previous is None else min(previous, expiry)
            index.required[cert_id] = required_due_date(cert, policy)
            index.by_required[index.required[cert_id]].append(cert_id)
        return index


@dataclass
class _FailedIndex:
    """This run's failed probes: by endpoint label, by host, and by the certificates they touch."""

    by_label: dict[str, list[Observation]] = field(default_factory=lambda: defaultdict(list))
    by_host: dict[str, list[Observation]] = field(default_factory=lambda: defaultdict(list))
    at_host: dict[str, list[Observation]] = field(default_factory=lambda: defaultdict(list))
    at_name: dict[str, list[Observation]] = field(default_factory=lambda: defaultdict(list))

    @classmethod
    def of(
        cls,
        unobserved: Iterable[Observation],
        by_name: Mapping[str, set[str]],
        by_host: Mapping[str, set[str]],
    ) -> _FailedIndex:
        index = cls()
        for observation in sorted(unobserved, key=lambda o: o.endpoint):
            index.by_label[observation.endpoint.label].append(observation)
            if observation.endpoint.protocol is Protocol.FILE:
                continue
            host = _host(observation.endpoint.host)
            index.by_host[host].append(observation)
            for cert_id in by_host.get(host, set()):
                index.at_host[cert_id].append(observation)
            # A host that failed may serve any certificate naming it, literally or by wildcard.
            named = set(by_name.get(host, set()))
            if "." in host:
                named |= by_name.get("*." + host.split(".", 1)[1], set())
            for cert_id in named:
                index.at_name[cert_id].append(observation)
        return index
