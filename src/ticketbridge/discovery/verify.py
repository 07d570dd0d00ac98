"""The verification verdict on a served chain: trusted by the system store plus `ca_bundle`, and
whether it covers the name asked for — computed apart from the facts, without a second handshake."""

from __future__ import annotations

import re
import ssl
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from cryptography import x509

from ticketbridge.core.model import CertFacts, Verification
from ticketbridge.core.x509facts import facts_from_der, hostname_matches
from ticketbridge.discovery.chaincheck import Failure, TrustFailure, check_chain
from ticketbridge.discovery.issuers import Anchors

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


class TrustStoreError(ValueError):
    """The configured `ca_bundle` could not be read or holds no certificate."""


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle; blocks that fail to parse are skipped, not fatal."""
    certificates = []
    with warnings.catch_warnings():
        # Old roots with negative serials still anchor real chains: accept them quietly.
        warnings.simplefilter("ignore")
        for block in _PEM_BLOCK.findall(data):
            try:
                certificates.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return certificates


def load_ca_bundle(ca_bundle: str | Path | None) -> list[x509.Certificate]:
    """The extra trust anchors of `discovery.ca_bundle`; an unreadable or empty file is an error."""
    if not ca_bundle:
        return []
    path = Path(ca_bundle)
    try:
        extra = load_pem_certificates(path.read_bytes())
    except OSError as exc:
        raise TrustStoreError(f"cannot read {path}: {exc.strerror}") from exc
    if not extra:
        raise TrustStoreError(f"{path} holds no PEM certificate")
    return extra


def system_trust_anchors() -> list[x509.Certificate]:
    paths = ssl.get_default_verify_paths()
    candidates = [paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return load_pem_certificates(Path(candidate).read_bytes())
    return []


def _uncovered(server_name: str | None, facts: CertFacts | None) -> str:
    """Why the certificate does not cover the name, in the words an operator acts on: a
    certificate without DNS names has its CN ignored (RFC 6125 §6.4.4; browsers and Python's
    ssl ignore it, though OpenSSL's X509_check_host still reads it); a partial wildcard such as
    `f*.example.com` is matched by no browser nor by Python's ssl (X509_CHECK_FLAG_NO_PARTIAL_
    WILDCARDS), though OpenSSL's default matches it."""
    plain = f"certificate does not cover {server_name}"
    if facts is None:
        return plain
    if not facts.names and not facts.ip_addresses and facts.common_name:
        return (
            f"{plain}: it has no subjectAltName, and its CN {facts.common_name} is ignored "
            "(RFC 6125; browsers and Python's ssl no longer match the CN)"
        )
    partial = [n for n in facts.names if "*" in n and not n.startswith("*.")]
    if partial:
        return (
            f"{plain}: partial wildcards such as {partial[0]} match no host name here, as in "
            "browsers and Python's ssl (CA/Browser Forum rules forbid them)"
        )
    return plain


class TrustVerifier:
    """Verifies chains against one trust store; verdicts are cached per run by chain and name."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.anchors = tuple(anchors)
        self._store = Anchors(self.anchors)  # indexed once by name, not scanned per look-up
        self._cache: dict[tuple[tuple[bytes, ...], tuple[bool, ...], date], str | None] = {}
        # Whole verdicts by chain and name too: at thousands of endpoints one chain is served
        # on every name it carries at every address, and the name match is as pure as the rest.
        self._verdicts: dict[
            tuple[tuple[bytes, ...], str | None, tuple[bool, ...], date], Verification
        ] = {}
        # One copy of each distinct chain's bytes for all those keys, not one per name.
        self._chains: dict[tuple[bytes, ...], tuple[bytes, ...]] = {}

    @classmethod
    def from_der(cls, anchors: Sequence[bytes]) -> TrustVerifier:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old roots with non-positive serials still anchor
            return cls([x509.load_der_x509_certificate(der) for der in anchors])

    def verdict(
        self, chain: Sequence[bytes], server_name: str | None, now: datetime
    ) -> Verification:
        """Trust and name verdict for a served chain (leaf first).

        `server_name` None means no name was asked for (a file on disk): hostname_match is then
        vacuously true. Trust is judged on its own, so a wrong-host certificate from a trusted CA
        reads "trusted, hostname mismatch" rather than a single opaque failure.
        """
        asked = tuple(chain)
        served = self._chains.setdefault(asked, asked)
        key = (served, server_name, _in_validity(served, now), now.date())
        known = self._verdicts.get(key)
        if known is None:
            known = self._verdicts[key] = self._verdict(served, server_name, now)
        return known

    def _verdict(
        self, chain: tuple[bytes, ...], server_name: str | None, now: datetime
    ) -> Verification:
        leaf_facts = facts_from_der(chain[0]) if chain else None
        hostname_match = server_name is None or (
            leaf_facts is not None and hostname_matches(server_name, leaf_facts)
        )
        trust_error = self.trust_error(chain, now)
        error = trust_error
        if error is None and not hostname_match:
            error = f"hostname mismatch: {_uncovered(server_name, leaf_facts)}"
        return Verification(trusted=trust_error is None, hostname_match=hostname_match, error=error)

    def trust_error(self, chain: tuple[bytes, ...], now: datetime) -> str | None:
        """Why the chain is not trusted, or None; cached per chain, so one wildcard served on a
        thousand names is verified once.

        Trust does not depend on which of the leaf's names was asked for: name constraints apply
        to every name the leaf carries, so verifying for any one of them is verifying for all.
        Nor does it depend on the second: only on which served certificates are inside their
        validity period (and, for the anchors, on the day).
        """
        key = (chain, _in_validity(chain, now), now.date())
        if key not in self._cache:
            if not chain:
                self._cache[key] = "no certificate served"
            else:
                self._cache[key] = self._trust_error(chain, now)
        return self._cache[key]

    def _trust_error(self, chain: Sequence[bytes], now: datetime) -> str | None:
        failure = self.trust_failure(chain, now)
        return None if failure is None else failure.reason

    def trust_failure(self, chain: Sequence[bytes], now: datetime) -> TrustFailure | None:
        """The first failure OpenSSL would report for the chain, with its class, or None."""
        with warnings.catch_warnings():
            # A served certificate with a non-positive serial is a fact to judge, not a warning
            # for the operator's terminal.
            warnings.simplefilter("ignore")
            try:
                served = [x509.load_der_x509_certificate(der) for der in chain]
                return check_chain(served, self._store, now)
            except Exception as exc:  # noqa: BLE001 - a hostile certificate is a verdict, not a crash
                return TrustFailure(
                    Failure.UNREADABLE,
                    f"a served certificate cannot be verified ({type(exc).__name__})",
                )


def _in_validity(chain: tuple[bytes, ...], now: datetime) -> tuple[bool, ...]:
    """Which served certificates are inside their validity period: all a verdict reads of the
    second it is asked at, with the day (for the anchors)."""
    return tuple(facts.not_before <= now < facts.not_after for facts in map(facts_from_der, chain))
