"""Observations to tracked certificates: name-set identity and effective expiry over endpoints."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ticketbridge.core.model import Observation, TrackedCert
from ticketbridge.core.x509facts import canonical_name, canonical_names, tracked_id


@dataclass(frozen=True, slots=True)
class InventoryPin:
    """An `[[certificates]]` entry: owner, assignee and lead time for one name set."""

    names: tuple[str, ...]
    id: str | None = None
    owner: str | None = None
    assignee: str | None = None
    lead_days: int | None = None

    @property
    def canonical(self) -> tuple[str, ...]:
        return tuple(sorted({canonical_name(name) for name in self.names} - {""}))


@dataclass(frozen=True, slots=True)
class Inventory:
    """What this run saw: certificates grouped by name set, and the endpoints it could not probe."""

    certificates: tuple[TrackedCert, ...]
    unobserved: tuple[Observation, ...]


def build_inventory(
    observations: Iterable[Observation], pins: Sequence[InventoryPin] = ()
) -> Inventory:
    """Group successful observations by canonical name set; keep failures apart.

    The effective expiry of a tracked certificate is the earliest over every endpoint serving it,
    so one load-balancer node still serving the old certificate keeps the renewal open.
    """
    pins_by_names = {pin.canonical: pin for pin in pins}
    groups: dict[tuple[str, ...], list[Observation]] = defaultdict(list)
    failures: list[Observation] = []
    for observation in observations:
        if observation.ok and observation.certificate is not None:
            groups[canonical_names(observation.certificate)].append(observation)
        else:
            failures.append(observation)
    certificates = [
        _tracked(names, members, pins_by_names.get(names)) for names, members in groups.items()
    ]
    certificates.sort(key=lambda cert: (cert.effective_not_after, cert.id))
    failures.sort(key=lambda observation: observation.endpoint)
    return Inventory(certificates=tuple(certificates), unobserved=tuple(failures))


def _tracked(
    names: tuple[str, ...], members: list[Observation], pin: InventoryPin | None
) -> TrackedCert:
    members.sort(key=lambda observation: observation.endpoint)
    expiries = [
        observation.effective_not_after
        for observation in members
        if observation.effective_not_after is not None
    ]
    fingerprints = sorted(
        {
            observation.certificate.fingerprint_sha256
            for observation in members
            if observation.certificate
        }
    )
    endpoints = tuple(dict.fromkeys(observation.endpoint for observation in members))
    return TrackedCert(
        id=(pin.id if pin and pin.id else tracked_id(names)),
        names=names,
        effective_not_after=min(expiries),
        fingerprints=tuple(fingerprints),
        endpoints=endpoints,
        observations=tuple(members),
        owner=pin.owner if pin else None,
        assignee=pin.assignee if pin else None,
        lead_days=pin.lead_days if pin else None,
    )
