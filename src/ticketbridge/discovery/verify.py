"""The verification verdict on a served chain: trusted by the system store plus `ca_bundle`, and
whether it covers the name asked for — computed apart from the facts, without a second handshake."""

from __future__ import annotations

import ipaddress
import re
import ssl
import warnings
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from ticketbridge.core.model import Verification, is_ip_literal
from ticketbridge.core.x509facts import facts_from_der, hostname_matches

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)
# Chains longer than this are not something any client builds; it also bounds the verifier's work
# against a server that sends a hundred intermediates.
_MAX_CHAIN_DEPTH = 8


def _require_server_auth(
    _policy: object, _certificate: x509.Certificate, usage: x509.ExtendedKeyUsage | None
) -> None:
    if usage is None:
        return
    if (
        ExtendedKeyUsageOID.SERVER_AUTH in usage
        or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usage
    ):
        return
    raise ValueError("extendedKeyUsage does not allow TLS server authentication")


def _leaf_policy() -> ExtensionPolicy:
    """Leaf checks as OpenSSL clients make them, not the stricter CA/Browser Forum profile.

    Private CAs (trustme, step-ca, many corporate CAs) mark the SAN or EKU critical, omit key
    usage, and so on; curl and Python's `ssl` accept those, so calling them untrusted would be
    noise. What matters is kept: a SAN to match, and an EKU, when present, that allows serverAuth.
    """
    return (
        ExtensionPolicy.permit_all()
        .require_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        .may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_server_auth)
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


class TrustVerifier:
    """Verifies chains against one trust store; verdicts are cached per run by chain and name."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.anchors = tuple(anchors)
        self._store = Store(list(anchors)) if anchors else None
        self._cache: dict[tuple[tuple[bytes, ...], tuple[bool, ...], date], str | None] = {}

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
        leaf_facts = facts_from_der(chain[0]) if chain else None
        hostname_match = server_name is None or (
            leaf_facts is not None and hostname_matches(server_name, leaf_facts)
        )
        trust_error = self.trust_error(tuple(chain), now)
        error = trust_error
        if error is None and not hostname_match:
            error = f"hostname mismatch: certificate does not cover {server_name}"
        return Verification(trusted=trust_error is None, hostname_match=hostname_match, error=error)

    def trust_error(self, chain: tuple[bytes, ...], now: datetime) -> str | None:
        """Why the chain is not trusted, or None; cached per chain, so one wildcard served on a
        thousand names is verified once.

        Trust does not depend on which of the leaf's names was asked for: name constraints apply
        to every name the leaf carries, so verifying for any one of them is verifying for all.
        Nor does it depend on the second: only on which served certificates are inside their
        validity period (and, for the anchors, on the day).
        """
        in_validity = tuple(
            facts.not_before <= now <= facts.not_after for facts in map(facts_from_der, chain)
        )
        key = (chain, in_validity, now.date())
        if key not in self._cache:
            if not chain:
                self._cache[key] = "no certificate served"
            else:
                error = self._trust_error(chain, _name_the_leaf_covers(chain[0]), now)
                self._cache[key] = None if error is None else _explain(chain, error, now)
        return self._cache[key]

    def _trust_error(
        self, chain: Sequence[bytes], subject: str | None, now: datetime
    ) -> str | None:
        if self._store is None:
            return "no trust anchors available"
        if subject is None:
            return "certificate names no DNS name or IP address (no subjectAltName)"
        with warnings.catch_warnings():
            # A served certificate with a non-positive serial is a fact to judge, not a warning
            # for the operator's terminal.
            warnings.simplefilter("ignore")
            return self._verify(chain, subject, now)

    def _verify(self, chain: Sequence[bytes], subject: str, now: datetime) -> str | None:
        assert self._store is not None
        try:
            leaf = x509.load_der_x509_certificate(chain[0])
            intermediates = [x509.load_der_x509_certificate(der) for der in chain[1:]]
            verifier = (
                PolicyBuilder()
                .store(self._store)
                .time(now)
                .max_chain_depth(_MAX_CHAIN_DEPTH)
                .extension_policies(
                    ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_leaf_policy()
                )
                .build_server_verifier(_general_name(subject))
            )
            verifier.verify(leaf, intermediates)
        except VerificationError as exc:
            return _clean(str(exc))
        except (ValueError, TypeError) as exc:
            return _clean(f"unverifiable certificate: {exc}")
        return None


def _general_name(subject: str) -> x509.DNSName | x509.IPAddress:
    if is_ip_literal(subject):
        return x509.IPAddress(ipaddress.ip_address(subject.strip("[]")))
    return x509.DNSName(subject)


def _name_the_leaf_covers(leaf_der: bytes) -> str | None:
    """A concrete name the leaf claims, so trust can be judged separately from the hostname."""
    facts = facts_from_der(leaf_der)
    for name in facts.names:
        if name.startswith("*."):
            return "wildcard-check" + name[1:]
        if name and "*" not in name:
            return name
    return facts.ip_addresses[0] if facts.ip_addresses else None


def _clean(message: str) -> str:
    message = re.sub(r"\s*\(encountered processing <Certificate\(.*?\)>\)", "", message)
    return " ".join(message.split())[:500]


def _explain(chain: Sequence[bytes], raw_error: str, now: datetime) -> str:
    """Say why in the words an operator uses, keeping the verifier's own words after them."""
    facts = [facts_from_der(der) for der in chain]
    leaf = facts[0]
    for position, certificate in enumerate(facts):
        role = (
            "certificate"
            if position == 0
            else f"chain certificate {position} ({certificate.subject})"
        )
        if certificate.not_after < now:
            return f"{role} expired at {certificate.not_after:%Y-%m-%dT%H:%M:%SZ}"
        if certificate.not_before > now:
            return f"{role} is not yet valid (from {certificate.not_before:%Y-%m-%dT%H:%M:%SZ})"
    if leaf.self_signed:
        return "self-signed certificate that is not a trust anchor"
    if "candidates exhausted" in raw_error or "no issuer" in raw_error.lower():
        last = facts[-1]
        return f"unable to get issuer certificate for {last.issuer} (missing intermediate or unknown CA): {raw_error}"
    return raw_error
