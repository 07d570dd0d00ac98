"""Frozen domain types shared by every layer: endpoints, observations, certificate facts."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Literal
from typing import Protocol as TypingProtocol

from ticketbridge.core.hsts import Hsts


class Protocol(StrEnum):
    """How an endpoint is reached before the TLS handshake starts."""

    TLS = "tls"
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    FTP = "ftp"
    POSTGRES = "postgres"
    LDAP = "ldap"
    XMPP = "xmpp"
    FILE = "file"


class ErrorKind(StrEnum):
    """Classification of a failed observation (SPEC lists the first six)."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    HANDSHAKE = "handshake"
    PROTOCOL = "protocol"
    RESET = "reset"
    UNREACHABLE = "unreachable"  # no route to the address: neither refused nor slow
    FILE = "file"  # a configured certificate file that could not be read or parsed
    STALE = "stale"  # observed longer ago than policy.max_observation_age_hours
    MISSING = "missing"  # its shard's scanner delivered no observations


def parses_as_ip(text: str) -> bool:
    """True when `text` is an IPv4 or IPv6 address (brackets allowed) rather than a DNS name."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


# Asked for every name of every certificate; memoised apart from the parsing so that mutation
# testing (which cannot reach into a decorated function) mutates `parses_as_ip`.
is_ip_literal = lru_cache(maxsize=65536)(parses_as_ip)


@dataclass(frozen=True, slots=True, order=True)
class Endpoint:
    """One place a certificate is served from: a host, one of its addresses, the SNI sent.

    Certificates read from disk are endpoints too: `protocol` is `file`, `host` the path,
    `address` the position of the leaf within the file (`#0`, `#1`, ...), `port` 0.
    """

    host: str
    port: int
    address: str
    sni: str | None
    protocol: Protocol = Protocol.TLS
    # Where the endpoint was listed (`zone:zones/db.example.com`), None for `[[endpoints]]`. Not
    # part of its identity: the same endpoint from two sources is one endpoint, probed once.
    source: str | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """`host:port@address` (SPEC), or `file:path#n` for certificates on disk."""
        return endpoint_label(self)


# The logic behind the properties lives in plain functions: mutmut 3 does not mutate property
# bodies, and every one of these decides what a ticket says or tracks.


def endpoint_label(endpoint: Endpoint) -> str:
    if endpoint.protocol is Protocol.FILE:
        return f"file:{endpoint.host}{endpoint.address}"
    if not endpoint.address:  # the name did not resolve
        return f"{endpoint.host}:{endpoint.port}"
    address = f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address
    return f"{endpoint.host}:{endpoint.port}@{address}"


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What one X.509 certificate says about itself, read without verifying anything."""

    fingerprint_sha256: str
    serial: str
    subject: str
    issuer: str
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    common_name: str | None = None
    ip_addresses: tuple[str, ...] = ()
    is_ca: bool = False
    self_signed: bool = False
    key_type: str = ""
    signature_algorithm: str = ""


@dataclass(frozen=True, slots=True)
class ProbeError:
    """Why an observation has no certificate: a classified, human-readable failure."""

    kind: ErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The verdict on a served chain, kept apart from the facts it was computed from."""

    trusted: bool
    hostname_match: bool
    error: str | None = None


class Verifier(TypingProtocol):
    """Judges a served chain (DER, leaf first); with `server_name` None there is no host to match."""

    def verdict(
        self, chain: Sequence[bytes], server_name: str | None, now: datetime
    ) -> Verification: ...


@dataclass(frozen=True, slots=True)
class Scanner:
    """The scanner that made an observation: its host name and, when sharded, `K/N`."""

    host: str
    shard: str | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one probe of one endpoint saw at one time: facts and verdict, or a classified error."""

    endpoint: Endpoint
    observed_at: datetime
    status: Literal["ok", "error"]
    error: ProbeError | None = None
    certificate: CertFacts | None = None
    chain: tuple[CertFacts, ...] = field(default=())
    effective_not_after: datetime | None = None
    verification: Verification | None = None
    # The expiry of the path clients validate (effective_not_after may be earlier: a served
    # cross-sign or old intermediate that only older clients build through), and the served
    # certificates on no path from the leaf: reported, never counted.
    validated_path_not_after: datetime | None = None
    strays: tuple[CertFacts, ...] = field(default=())
    # HTTPS endpoints only (SPEC `hsts`): read after the certificate, never part of its facts.
    hsts: Hsts | None = None
    scanner: Scanner | None = None  # who observed it: SPEC "Shards"

    @property
    def ok(self) -> bool:
        return observation_ok(self)

    @property
    def paging_not_after(self) -> datetime | None:
        """The validated path's expiry where known, else the effective expiry."""
        return paging_not_after(self)

    @property
    def off_path_expiry(self) -> CertFacts | None:
        """The served certificate off the validated path that sets the effective expiry, if the
        earliest expiry comes from one (an expired intermediate beside its re-issue, say)."""
        return off_path_expiry(self)


def observation_ok(observation: Observation) -> bool:
    return observation.status == "ok" and observation.certificate is not None


def paging_not_after(observation: Observation) -> datetime | None:
    return observation.validated_path_not_after or observation.effective_not_after


def off_path_expiry(observation: Observation) -> CertFacts | None:
    effective, validated = observation.effective_not_after, observation.validated_path_not_after
    if effective is None or validated is None or effective >= validated:
        return None
    strays = {stray.fingerprint_sha256 for stray in observation.strays}
    return next(
        (
            served
            for served in observation.chain[1:]
            if served.not_after == effective and served.fingerprint_sha256 not in strays
        ),
        None,
    )


@dataclass(frozen=True, slots=True)
class TrackedCert:
    """All served certificates sharing one canonical name set: the thing a ticket is about."""

    id: str
    names: tuple[str, ...]
    effective_not_after: datetime
    fingerprints: tuple[str, ...]
    endpoints: tuple[Endpoint, ...]
    observations: tuple[Observation, ...] = field(default=(), compare=False, repr=False)
    owner: str | None = None
    assignee: str | None = None
    lead_days: int | None = None

    @property
    def endpoint_labels(self) -> tuple[str, ...]:
        return tracked_endpoint_labels(self)

    @property
    def strays(self) -> tuple[CertFacts, ...]:
        """Served certificates on no path from the leaf, over every endpoint, once each."""
        return tracked_strays(self)

    @property
    def validated_path_not_after(self) -> datetime:
        """The earliest expiry of the validated paths over every endpoint serving it: what
        paging waits for. The effective expiry where no observation says more."""
        return tracked_validated_path_not_after(self)


def tracked_endpoint_labels(cert: TrackedCert) -> tuple[str, ...]:
    return tuple(endpoint_label(endpoint) for endpoint in cert.endpoints)


def tracked_strays(cert: TrackedCert) -> tuple[CertFacts, ...]:
    found = {
        stray.fingerprint_sha256: stray
        for observation in cert.observations
        for stray in observation.strays
    }
    return tuple(sorted(found.values(), key=lambda s: (s.not_after, s.fingerprint_sha256)))


def tracked_validated_path_not_after(cert: TrackedCert) -> datetime:
    expiries = [
        expiry for observation in cert.observations if (expiry := paging_not_after(observation))
    ]
    return max(min(expiries, default=cert.effective_not_after), cert.effective_not_after)


StatusCategory = Literal["new", "indeterminate", "done"]


@dataclass(frozen=True, slots=True)
class Ticket:
    """A change ticket as any ticket system reports it: only the fields reconciliation reads.

    `status_category` follows Jira's three categories: `new` (to do), `indeterminate`
    (in progress) and `done`; a ticket is open while it is not `done`.
    """

    key: str
    summary: str
    status: str
    status_category: StatusCategory
    created: datetime
    due_date: date | None = None
    labels: tuple[str, ...] = ()
    priority: str | None = None
    assignee: str | None = None
    resolved_at: datetime | None = None
    url: str | None = None
    # Machine-readable evidence from ticketbridge's last write, where the backend keeps it:
    # the certificate id and the endpoints (labels) that served it then.
    tracked_endpoints: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return ticket_is_open(self)

    @property
    def in_progress(self) -> bool:
        return ticket_in_progress(self)

    @property
    def marker_ids(self) -> tuple[str, ...]:
        """Certificate ids named by `tb-<id>` marker labels (16 hex digits; other `tb-` labels
        are someone else's)."""
        return marker_ids(self.labels)


def ticket_is_open(ticket: Ticket) -> bool:
    return ticket.status_category != "done"


def ticket_in_progress(ticket: Ticket) -> bool:
    return ticket.status_category == "indeterminate"


def marker_ids(labels: Sequence[str]) -> tuple[str, ...]:
    return tuple(
        label[len(MARKER_PREFIX) :]
        for label in labels
        if label.startswith(MARKER_PREFIX) and _MARKER_ID.fullmatch(label[len(MARKER_PREFIX) :])
    )


MARKER_LABEL = "ticketbridge"
_MARKER_ID = re.compile(r"[0-9a-f]{16}")
MARKER_PREFIX = "tb-"


def marker_label(certificate_id: str) -> str:
    return f"{MARKER_PREFIX}{certificate_id}"
