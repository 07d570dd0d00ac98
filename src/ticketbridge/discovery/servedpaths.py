"""Which served certificates a client can build a path through: effective expiry, the validated
path's expiry, and the strays that lie on no path (SPEC "Effective expiry").

An issuer of a certificate, here, is a served certificate whose subject matches the child's
issuer name (compared in OpenSSL's canonical form: case-folded, whitespace collapsed, string type
ignored) AND whose key verifies the child's signature. The names alone are not enough: an expired
intermediate beside its re-issue under a new key has the same name, and only one of them signed.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography import x509

from ticketbridge.core.model import CertFacts
from ticketbridge.core.x509facts import effective_not_after
from ticketbridge.discovery import issuers

# The same bound as the verdict (chaincheck.MAX_CHAIN_DEPTH): no real chain is longer, and it
# bounds what a hostile server's cross-signed loops can cost, together with the path budget.
MAX_PATH_DEPTH = 8
MAX_PATHS_EXPLORED = 1024
MAX_SAME_NAME_CANDIDATES = 32

NameKey = issuers.CanonicalName


@dataclass(frozen=True, slots=True)
class ServedPaths:
    """The answer for one served chain; positions index the chain as served (leaf at 0)."""

    effective_not_after: datetime
    validated_path_not_after: datetime
    on_path: tuple[int, ...]
    strays: tuple[int, ...]
    trusted_path_found: bool


@dataclass(frozen=True, slots=True)
class PathFacts:
    """What an observation records of the analysis: expiries and the strays' facts."""

    effective_not_after: datetime | None
    validated_path_not_after: datetime | None
    strays: tuple[CertFacts, ...]


def path_facts(chain: Sequence[bytes], facts: Sequence[CertFacts], verifier: object) -> PathFacts:
    """The analysis for an observation, with the verifier's trust anchors when it has them; a
    chain the analysis cannot read falls back to every served certificate but a root counting."""
    anchors: Sequence[x509.Certificate] = getattr(verifier, "anchors", ())
    try:
        paths = served_paths(chain, anchors)
    except Exception:  # noqa: BLE001 - hostile DER must never lose the observation
        return PathFacts(effective_not_after(facts), None, ())
    return PathFacts(
        effective_not_after=paths.effective_not_after,
        validated_path_not_after=paths.validated_path_not_after,
        strays=tuple(facts[i] for i in paths.strays),
    )


def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """The issuer's key verifies the child's signature (names are compared by the caller),
    with the verdict's own check (issuers.signed_by); a key identifier naming another key rules
    the candidate out first, cheaply."""
    if _key_ids_differ(child, issuer):
        return False  # what keeps a flood of same-name certificates cheap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return issuers.signed_by(child, issuer)


def _key_ids_differ(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """v3_purp.c ossl_x509_likely_issued(): an authority key identifier that names another key
    than the candidate's subject key identifier rules the candidate out before any signature."""
    try:
        authority = child.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        subject = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except Exception:  # noqa: BLE001 - absent or unreadable: the signature decides
        return False
    wanted = authority.value.key_identifier
    return wanted is not None and wanted != subject.value.digest


class AnchorIndex:
    """Trust anchors by canonical subject, so each step of a walk looks up only its candidates."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self._by_subject: dict[NameKey, list[x509.Certificate]] = {}
        self._der: set[bytes] = set()
        for anchor in anchors:
            key = issuers.subject_key(anchor)
            if key is not None:
                self._by_subject.setdefault(key, []).append(anchor)
            self._der.add(_der(anchor))

    def completes(self, certificate: x509.Certificate, der: bytes) -> bool:
        """The certificate is a trust anchor, or one issued it: a path may stop here."""
        if der in self._der:
            return True
        key = issuers.issuer_key(certificate)
        candidates = self._by_subject.get(key, []) if key is not None else []
        return any(signed_by(certificate, anchor) for anchor in candidates)


_ANCHOR_INDEXES: dict[int, tuple[Sequence[x509.Certificate], AnchorIndex]] = {}


def anchor_index(anchors: Sequence[x509.Certificate]) -> AnchorIndex:
    """One index per trust store of the run (kept alive with it, so its id is never reused)."""
    held = _ANCHOR_INDEXES.get(id(anchors))
    if held is None or held[0] is not anchors:
        if len(_ANCHOR_INDEXES) > 16:
            _ANCHOR_INDEXES.clear()
        held = (anchors, AnchorIndex(anchors))
        _ANCHOR_INDEXES[id(anchors)] = held
    return held[1]


def _der(certificate: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return certificate.public_bytes(Encoding.DER)


def served_paths(chain: Sequence[bytes], anchors: Sequence[x509.Certificate] = ()) -> ServedPaths:
    """Analyse a served chain (DER, leaf first) against the trust anchors, if any."""
    return _cached(tuple(chain), anchor_index(tuple(anchors) if anchors else ()))


@lru_cache(maxsize=4096)
def _cached(chain: tuple[bytes, ...], anchors: AnchorIndex) -> ServedPaths:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd serials are facts, not terminal noise
        certificates = [x509.load_der_x509_certificate(der) for der in chain]
    return _ServedGraph(chain, certificates, anchors).analyse()


class _ServedGraph:
    """The issuer relation among the distinct served certificates."""

    def __init__(
        self,
        chain: Sequence[bytes],
        certificates: Sequence[x509.Certificate],
        anchors: AnchorIndex,
        leaf: int | None = 0,
    ) -> None:
        self.leaf = leaf
        first: dict[bytes, int] = {}
        for position, der in enumerate(chain):
            first.setdefault(der, position)
        self.nodes = sorted(first.values())
        self.chain = chain
        self.certificates = certificates
        self.anchors = anchors
        self.roots = {i for i in self.nodes if _self_signed_ca(certificates[i])}
        # A certificate that says it is no CA issues nothing a client accepts (v3_purp.c
        # check_ca); one without basicConstraints may still be a v1 root, so it stays a candidate.
        self.end_entities = {i for i in self.nodes if _says_not_ca(certificates[i])}
        subjects: dict[NameKey, list[int]] = {}
        for i in self.nodes:
            key = issuers.subject_key(certificates[i])
            if key is not None:
                subjects.setdefault(key, []).append(i)
        self.issuers = {i: self._issuers_of(i, subjects) for i in self.nodes}

    def _issuers_of(self, child: int, subjects: dict[NameKey, list[int]]) -> list[int]:
        certificate = self.certificates[child]
        if child != self.leaf and child in self.roots:
            return []  # a path ends at a self-signed root, as OpenSSL's chain building does
        key = issuers.issuer_key(certificate)
        candidates = subjects.get(key, []) if key is not None else []
        # Bounded: a hostile bundle of thousands of same-name certificates must not cost
        # millions of signature checks.
        likely = [
            j
            for j in candidates
            if j != child
            and j not in self.end_entities
            and not _key_ids_differ(certificate, self.certificates[j])
        ]
        return [
            j
            for j in likely[:MAX_SAME_NAME_CANDIDATES]
            if signed_by(certificate, self.certificates[j])
        ]

    def reachable(self, start: int = 0) -> set[int]:
        """Every served certificate on some path from the leaf: its issuers, transitively."""
        seen = {start}
        frontier = [start]
        while frontier:
            for issuer in self.issuers[frontier.pop()]:
                if issuer not in seen:
                    seen.add(issuer)
                    frontier.append(issuer)
        return seen

    def counts(self, position: int) -> bool:
        # Clients use their own copy of a root, never the served one.
        return position == 0 or position not in self.roots

    def analyse(self) -> ServedPaths:
        on_path = self.reachable()
        counted = [self.certificates[i].not_valid_after_utc for i in on_path if self.counts(i)]
        effective = min(counted)
        trusted, best = self.best_path_expiry()
        return ServedPaths(
            effective_not_after=effective,
            validated_path_not_after=max(best, effective),
            on_path=tuple(sorted(on_path - {0})),
            strays=tuple(i for i in self.nodes if i not in on_path),
            trusted_path_found=trusted,
        )

    def best_path_expiry(self) -> tuple[bool, datetime]:
        """The latest expiry over complete paths: the path a client that has the anchor builds.

        OpenSSL looks in the trust store first at every step (X509_V_FLAG_TRUSTED_FIRST) and
        prefers an issuer inside its validity period, so a client that can reach an anchor
        without the expired certificate does. Without any path to an anchor, the best path
        among what is served stands for the path a client with the right root would build.
        """
        trusted: list[datetime] = []
        untrusted: list[datetime] = []
        budget = [MAX_PATHS_EXPLORED]
        leaf = self.certificates[0]
        self._walk([0], leaf.not_valid_after_utc, trusted, untrusted, budget)
        if trusted:
            return True, max(trusted)
        return False, max(untrusted, default=leaf.not_valid_after_utc)

    def _walk(
        self,
        path: list[int],
        expiry: datetime,
        trusted: list[datetime],
        untrusted: list[datetime],
        budget: list[int],
    ) -> None:
        budget[0] -= 1
        current = path[-1]
        if self.anchors.completes(self.certificates[current], self.chain[current]):
            trusted.append(expiry)
            return
        onward = [i for i in self.issuers[current] if i not in path]
        if not onward or len(path) >= MAX_PATH_DEPTH or budget[0] <= 0:
            untrusted.append(expiry)
            return
        for issuer in onward:
            if budget[0] <= 0:
                return
            through = self.certificates[issuer].not_valid_after_utc
            step = min(expiry, through) if self.counts(issuer) else expiry
            self._walk([*path, issuer], step, trusted, untrusted, budget)


def _self_signed_ca(certificate: x509.Certificate) -> bool:
    return (
        _is_ca(certificate)
        and issuers.self_issued(certificate)
        and signed_by(certificate, certificate)
    )


@dataclass(frozen=True, slots=True)
class BundleChains:
    """A certificate file read as `openssl verify -untrusted FILE` reads it: each tracked
    certificate with the positions of its issuers in the file, in file order, and the strays."""

    chains: tuple[tuple[int, tuple[int, ...]], ...]
    strays: tuple[int, ...]


def bundle_chains(ders: Sequence[bytes]) -> BundleChains:
    """Build each leaf's paths from every certificate in the file, in any order.

    A certificate that issues another in the file belongs to that one's chain and is not
    tracked on its own. In a file that holds end-entity certificates (a full chain), a CA
    certificate on no leaf's path is a stray; in a file of CA certificates only (a CA bundle),
    each one that issues nothing there is tracked, with its issuers.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        certificates = [x509.load_der_x509_certificate(der) for der in ders]
    graph = _ServedGraph(ders, certificates, anchor_index(()), leaf=None)
    issuing = {j for i in graph.nodes for j in graph.issuers[i]}
    candidates = [i for i in graph.nodes if i not in issuing]
    end_entities = [i for i in candidates if not _is_ca(certificates[i])]
    chains: list[tuple[int, tuple[int, ...]]] = []
    covered: set[int] = set()
    for leaf in end_entities or candidates:
        path = graph.reachable(leaf)
        covered |= path
        chains.append((leaf, tuple(sorted(path - {leaf}))))
    leftovers = [i for i in graph.nodes if i not in covered]
    if end_entities:
        return BundleChains(tuple(chains), tuple(leftovers))
    for leaf in leftovers:  # CA certificates that issue each other in a loop
        if leaf not in covered:
            path = graph.reachable(leaf)
            covered |= path
            chains.append((leaf, tuple(sorted(path - {leaf}))))
    return BundleChains(tuple(sorted(chains)), ())


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except Exception:  # noqa: BLE001 - a missing or malformed extension makes no CA
        return False


def _says_not_ca(certificate: x509.Certificate) -> bool:
    try:
        return not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:  # perhaps a v1 root: not known to be an end entity
        return False
    except Exception:  # noqa: BLE001 - extensions no client can parse make no issuer
        return True
