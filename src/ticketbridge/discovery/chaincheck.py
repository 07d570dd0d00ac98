"""Path validation as OpenSSL 3 clients do it (`X509_verify_cert`, auth level 2, purpose sslserver).

Each rule cites the OpenSSL source it follows (crypto/x509/x509_vfy.c, v3_purp.c, x509_set.c, the
3.0 branch). The checks run in OpenSSL's order, so the first failure found here is the first one
OpenSSL reports; `tests/oracle/` holds us to that on generated chains. Hostnames are matched
elsewhere (`x509facts.hostname_matches`): trust and name are separate verdicts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from ticketbridge.discovery.certrules import (
    acts_as_ca,
    dns_allowed,
    extension,
    ip_allowed,
    leaf_names,
    path_length,
    purpose_failure,
    self_issued,
    unhandled_critical,
    weak_digest,
    weak_key,
)

# x509_vfy.c: X509_V_FLAG_X509_STRICT is off for clients, and the default verify depth is 100;
# we stop at 8 (no real chain is longer) which also bounds the work a hostile server can cause.
MAX_CHAIN_DEPTH = 8


class Failure(StrEnum):
    """The failure classes an operator acts on; each groups the OpenSSL X509_V_ERR codes shown."""

    WEAK_KEY = "weak-key"  # 66 EE_KEY_TOO_SMALL, 67 CA_KEY_TOO_SMALL
    WEAK_SIGNATURE = "weak-signature"  # 68 CA_MD_TOO_WEAK
    UNKNOWN_ISSUER = "unknown-issuer"  # 2, 20 UNABLE_TO_GET_ISSUER_CERT(_LOCALLY), 18, 19
    CHAIN_TOO_LONG = "chain-too-long"  # 22 CERT_CHAIN_TOO_LONG
    NOT_A_CA = "not-a-ca"  # 24 INVALID_CA
    PATH_LENGTH = "path-length"  # 25 PATH_LENGTH_EXCEEDED
    PURPOSE = "purpose"  # 26 INVALID_PURPOSE
    CRITICAL_EXTENSION = "critical-extension"  # 34 UNHANDLED_CRITICAL_EXTENSION
    NAME_CONSTRAINTS = "name-constraints"  # 47 PERMITTED_VIOLATION, 48 EXCLUDED_VIOLATION
    SIGNATURE = "signature"  # 7 CERT_SIGNATURE_FAILURE, 6 UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY
    NOT_YET_VALID = "not-yet-valid"  # 9 CERT_NOT_YET_VALID
    EXPIRED = "expired"  # 10 CERT_HAS_EXPIRED
    NO_ANCHORS = "no-anchors"
    UNREADABLE = "unreadable"  # a certificate the verifier cannot read at all


@dataclass(frozen=True, slots=True)
class TrustFailure:
    kind: Failure
    reason: str


def role(position: int, certificate: x509.Certificate) -> str:
    """How a reason names a certificate: the served one, or a CA by its subject."""
    if position == 0:
        return "certificate"
    return f"CA certificate {_subject(certificate)}"


def _subject(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string() or "(empty subject)"
    except ValueError:
        return "(undecodable subject)"


def check_chain(
    served: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    now: datetime,
) -> TrustFailure | None:
    """The first failure OpenSSL would report for this served chain (leaf first), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd serials are facts, not terminal noise
        return _check(list(served), list(anchors), now)


def _check(
    served: list[x509.Certificate], anchors: list[x509.Certificate], now: datetime
) -> TrustFailure | None:
    leaf = served[0]
    # x509_vfy.c X509_verify_cert(): the leaf key is judged before any chain is built.
    weak = weak_key(leaf)
    if weak:
        return TrustFailure(Failure.WEAK_KEY, f"certificate key is too weak: {weak}")
    if not anchors:
        return TrustFailure(Failure.NO_ANCHORS, "no trust anchors available")
    built = _build(leaf, served[1:], anchors, now)
    if isinstance(built, TrustFailure):
        return built
    chain = built
    for check in (_extensions_failure, _auth_level_failure, _name_constraints_failure):
        failure = check(chain)
        if failure:
            return failure
    return _signatures_and_times(chain, now)


def _build(
    leaf: x509.Certificate,
    untrusted: list[x509.Certificate],
    anchors: list[x509.Certificate],
    now: datetime,
) -> list[x509.Certificate] | TrustFailure:
    """x509_vfy.c build_chain(): issuers from the trust store first (X509_V_FLAG_TRUSTED_FIRST,
    the default since 1.1.0), then from what was served, until a self-signed trust anchor."""
    if any(anchor == leaf for anchor in anchors):
        return [leaf]  # a certificate that is itself a trust anchor verifies as itself
    chain = [leaf]
    while True:
        current = chain[-1]
        trusted = _find_issuer(current, anchors, now)
        if trusted is not None:
            chain.append(trusted)
            if self_issued(trusted):
                return chain
            continue  # a trusted intermediate still needs a root (no X509_V_FLAG_PARTIAL_CHAIN)
        if self_issued(current) and _issued_by(current, current):
            reason = (
                "self-signed certificate that is not a trust anchor"
                if len(chain) == 1
                else f"chain ends at self-signed {_subject(current)}, which is not a trust anchor"
            )
            return TrustFailure(Failure.UNKNOWN_ISSUER, reason)
        issuer = _find_issuer(current, [c for c in untrusted if c not in chain], now)
        if issuer is None:
            return TrustFailure(
                Failure.UNKNOWN_ISSUER,
                f"issuer {_issuer(current)} is neither served nor a trusted CA "
                "(missing intermediate or unknown CA)",
            )
        if len(chain) >= MAX_CHAIN_DEPTH:
            return TrustFailure(
                Failure.CHAIN_TOO_LONG, f"chain longer than {MAX_CHAIN_DEPTH} certificates"
            )
        chain.append(issuer)


def _issuer(certificate: x509.Certificate) -> str:
    try:
        return certificate.issuer.rfc4514_string() or "(empty issuer)"
    except ValueError:
        return "(undecodable issuer)"


def _find_issuer(
    certificate: x509.Certificate, candidates: Sequence[x509.Certificate], now: datetime
) -> x509.Certificate | None:
    """x509_vfy.c get_issuer_sk()/X509_STORE_CTX_get1_issuer(): a likely issuer, preferring one
    inside its validity period."""
    found = [c for c in candidates if _issued_by(certificate, c)]
    current = [c for c in found if _within(c, now)]
    if current:
        return current[0]
    return found[-1] if found else None


def _issued_by(subject: x509.Certificate, issuer: x509.Certificate) -> bool:
    """x509_vfy.c check_issued() -> v3_purp.c ossl_x509_likely_issued(): the names chain and an
    authority key identifier, when both sides have one, matches. Key usage and signatures are
    judged later (check_chain_extensions, internal_verify), as OpenSSL does."""
    if subject.issuer != issuer.subject:
        return False
    authority = extension(subject, x509.AuthorityKeyIdentifier)
    subject_key = extension(issuer, x509.SubjectKeyIdentifier)
    return (
        authority is None
        or authority.key_identifier is None
        or subject_key is None
        or authority.key_identifier == subject_key.digest
    )


def _within(certificate: x509.Certificate, now: datetime) -> bool:
    # x509_vfy.c check_cert_time(): valid from notBefore inclusive to notAfter exclusive.
    return certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc


def _extensions_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_chain_extensions() with X509_V_FLAG_X509_STRICT off."""
    plen = 0
    for position, certificate in enumerate(chain):
        who = role(position, certificate)
        critical = unhandled_critical(certificate)
        if critical:
            return TrustFailure(
                Failure.CRITICAL_EXTENSION,
                f"{who} has a critical extension clients do not understand ({critical})",
            )
        if position > 0 and not acts_as_ca(certificate, anchor=position == len(chain) - 1):
            return TrustFailure(Failure.NOT_A_CA, f"{who} is not allowed to issue certificates")
        purpose = purpose_failure(certificate, position > 0)
        if purpose:
            return TrustFailure(Failure.PURPOSE, f"{who} {purpose}")
        allowed = path_length(certificate)
        if position > 1 and allowed is not None and plen > allowed:
            return TrustFailure(
                Failure.PATH_LENGTH,
                f"{who} allows {allowed} CA certificate(s) below it, the chain has {plen}",
            )
        if position > 0 and not self_issued(certificate):
            plen += 1
    return None


def _auth_level_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_auth_level(): every CA key, and every signature but the anchor's own."""
    for position, certificate in enumerate(chain):
        weak = weak_key(certificate) if position > 0 else None
        if weak:
            return TrustFailure(
                Failure.WEAK_KEY, f"{role(position, certificate)} key is too weak: {weak}"
            )
        if position < len(chain) - 1:
            digest = weak_digest(certificate)
            if digest:
                return TrustFailure(
                    Failure.WEAK_SIGNATURE,
                    f"{role(position, certificate)} is signed with {digest}, "
                    "which clients no longer accept",
                )
    return None


def _name_constraints_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_name_constraints() for DNS names and IP addresses of the leaf."""
    names, addresses = leaf_names(chain[0])
    for position, certificate in enumerate(chain[1:], start=1):
        constraints = extension(certificate, x509.NameConstraints)
        if constraints is None:
            continue
        for name in names:
            if not dns_allowed(name, constraints):
                return TrustFailure(
                    Failure.NAME_CONSTRAINTS,
                    f"{role(position, certificate)} is not allowed to issue for {name}",
                )
        for address in addresses:
            if not ip_allowed(address, constraints):
                return TrustFailure(
                    Failure.NAME_CONSTRAINTS,
                    f"{role(position, certificate)} is not allowed to issue for {address}",
                )
    return None


def _signatures_and_times(chain: list[x509.Certificate], now: datetime) -> TrustFailure | None:
    """x509_vfy.c internal_verify(): from the anchor down, each signature (the anchor's own
    self-signature is not checked), then each validity period."""
    for position in range(len(chain) - 1, -1, -1):
        certificate = chain[position]
        who = role(position, certificate)
        if position < len(chain) - 1:
            try:
                certificate.verify_directly_issued_by(chain[position + 1])
            except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
                return TrustFailure(Failure.SIGNATURE, f"{who} has an invalid signature")
        if now < certificate.not_valid_before_utc:
            return TrustFailure(
                Failure.NOT_YET_VALID,
                f"{who} is not yet valid (from {_stamp(certificate.not_valid_before_utc)})",
            )
        if now >= certificate.not_valid_after_utc:
            return TrustFailure(
                Failure.EXPIRED, f"{who} expired at {_stamp(certificate.not_valid_after_utc)}"
            )
    return None


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"
