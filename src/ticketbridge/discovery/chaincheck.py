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

from ticketbridge.discovery.certrules import (
    acts_as_ca,
    path_length,
    purpose_failure,
    self_issued,
    unhandled_critical,
    weak_digest,
    weak_key,
)
from ticketbridge.discovery.issuers import (
    Anchors,
    issuer_key,
    issuer_mismatch,
    preferred_issuer,
    self_signed,
    signed_by,
    subject_key,
)
from ticketbridge.discovery.nameconstraints import NAME_CHECK_MAX, violation

# x509_vfy.c: X509_V_FLAG_X509_STRICT is off for clients, and the default verify depth is 100;
# we stop at 8 certificates (no real chain is longer), which bounds the work a hostile server or
# a looping trust store can cause: path building is greedy, as OpenSSL's is (no backtracking),
# so a verdict costs at most 8 issuer look-ups, each among the certificates of one name.
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
    except (ValueError, TypeError):  # TypeError: cryptography refuses a BIT STRING CN
        return "(undecodable subject)"


def check_chain(
    served: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate] | Anchors,
    now: datetime,
) -> TrustFailure | None:
    """The first failure OpenSSL would report for this served chain (leaf first), or None."""
    store = anchors if isinstance(anchors, Anchors) else Anchors(anchors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # odd serials are facts, not terminal noise
        return _check(list(served), store, now)


def _check(served: list[x509.Certificate], anchors: Anchors, now: datetime) -> TrustFailure | None:
    leaf = served[0]
    # x509_vfy.c X509_verify_cert(): the leaf key is judged before any chain is built.
    weak = weak_key(leaf)
    if weak:
        return TrustFailure(Failure.WEAK_KEY, f"certificate key is too weak: {weak}")
    if not len(anchors):
        return TrustFailure(Failure.NO_ANCHORS, "no trust anchors available")
    built = _build(leaf, served[1:], anchors, now)
    if isinstance(built, TrustFailure):
        return built
    chain = built
    # x509_vfy.c verify_chain() (3.0): extensions, auth level, then internal_verify()'s
    # signatures and dates, and only then name constraints.
    for check in (_extensions_failure, _auth_level_failure):
        failure = check(chain)
        if failure:
            return failure
    return _signatures_and_times(chain, now) or _name_constraints_failure(chain)


def _build(
    leaf: x509.Certificate,
    untrusted: list[x509.Certificate],
    anchors: Anchors,
    now: datetime,
) -> list[x509.Certificate] | TrustFailure:
    """x509_vfy.c build_chain(): issuers from the trust store first (X509_V_FLAG_TRUSTED_FIRST,
    the default since 1.1.0), then from what was served, until a self-signed trust anchor.

    Like OpenSSL, the trust store is searched without regard to what the chain already holds
    (so CAs cross-signed by each other loop until the depth limit: "certificate chain too
    long"), while served certificates already on the path are not used again, nor searched at
    all once the path has reached the trust store. A certificate in the trust store anchors
    itself only when self-signed: OpenSSL needs -partial_chain (X509_V_FLAG_PARTIAL_CHAIN) to
    stop at a CA-issued one, and its clients do not set it.
    """
    if leaf in anchors and self_signed(leaf):
        return [leaf]  # a self-signed certificate that is itself a trust anchor
    chain = [leaf]
    trusted: x509.Certificate | None = None
    while True:
        current = chain[-1]
        reached_store = trusted is not None
        trusted = anchors.issuer_of(current, now)
        issuer = trusted
        if issuer is None:
            if self_signed(current):
                return TrustFailure(Failure.UNKNOWN_ISSUER, _untrusted_root(chain))
            if reached_store:
                # Once the path reaches the trust store it stays there: served certificates
                # are not searched for a trusted certificate's issuer.
                return TrustFailure(Failure.UNKNOWN_ISSUER, _trusted_without_root(current))
            served = [c for c in untrusted if c not in chain]
            issuer = preferred_issuer(current, served, now)
            if issuer is None:
                return TrustFailure(
                    Failure.UNKNOWN_ISSUER, _missing_issuer(chain, untrusted, anchors)
                )
        if len(chain) >= MAX_CHAIN_DEPTH:
            return TrustFailure(Failure.CHAIN_TOO_LONG, _too_long(chain))
        chain.append(issuer)
        if trusted is not None and self_signed(trusted):
            return chain


def _trusted_without_root(current: x509.Certificate) -> str:
    return (
        f"CA certificate {_subject(current)} is trusted, but its issuer {_issuer(current)} is "
        "not: clients need the trusted path to end at a self-signed root in the trust store "
        "(OpenSSL without -partial_chain)"
    )


def _untrusted_root(chain: list[x509.Certificate]) -> str:
    current = chain[-1]
    if len(chain) == 1:
        return "self-signed certificate that is not a trust anchor"
    return f"chain ends at self-signed {_subject(current)}, which is not a trust anchor"


def _too_long(chain: list[x509.Certificate]) -> str:
    repeated = next((c for i, c in enumerate(chain) if c in chain[:i]), None)
    if repeated is None:
        return f"chain longer than {MAX_CHAIN_DEPTH} certificates"
    loop = chain[chain.index(repeated) :]
    names = sorted({_subject(c) for c in loop})
    return (
        f"path building loops through the trusted CA certificates {' and '.join(names)}, "
        "which are cross-signed by each other: clients following them never reach a "
        f"self-signed root (stopped after {MAX_CHAIN_DEPTH} certificates; OpenSSL says "
        '"certificate chain too long")'
    )


_MISMATCH_WORDS = {
    "key identifier": "its key is not the one the certificate's authority key identifier names",
    "serial": "the certificate's authority key identifier names another issuer serial or name",
    "key type": "its key is of another type than the certificate's signature algorithm",
    "no key": "its public key cannot be read",
    "algorithm": "the certificate's signature algorithm is not supported",
}


def _missing_issuer(
    chain: list[x509.Certificate], untrusted: list[x509.Certificate], anchors: Anchors
) -> str:
    """Why no issuer was found, naming same-name certificates that were served or trusted and
    why none of them fits (x509_vfy.c reports them all as "unable to get issuer")."""
    current = chain[-1]
    wanted = issuer_key(current)
    served = [c for c in untrusted if subject_key(c) == wanted]
    trusted = anchors.named(wanted)
    who = role(len(chain) - 1, current)
    for kind, candidates in (("served", served), ("trusted", trusted)):
        for candidate in candidates:
            why = issuer_mismatch(current, candidate)
            if why is None and candidate in chain:
                return (
                    f"issuer {_issuer(current)} of {who} is {kind} but already on the path "
                    "(the served chain loops)"
                )
            if why is not None:
                return (
                    f"issuer {_issuer(current)} is {kind}, but not as the issuer of {who}: "
                    f"{_MISMATCH_WORDS.get(why, why)} (a re-keyed or wrong CA certificate)"
                )
    return (
        f"issuer {_issuer(current)} is neither served nor a trusted CA "
        "(missing intermediate or unknown CA)"
    )


def _issuer(certificate: x509.Certificate) -> str:
    try:
        return certificate.issuer.rfc4514_string() or "(empty issuer)"
    except (ValueError, TypeError):
        return "(undecodable issuer)"


def _extensions_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_chain_extensions() with X509_V_FLAG_X509_STRICT off."""
    plen = 0
    for position, certificate in enumerate(chain):
        critical = unhandled_critical(certificate)
        if critical:
            return TrustFailure(
                Failure.CRITICAL_EXTENSION,
                f"{role(position, certificate)} has a critical extension clients do not "
                f"understand ({critical})",
            )
        if position > 0 and not acts_as_ca(certificate, anchor=position == len(chain) - 1):
            return TrustFailure(
                Failure.NOT_A_CA,
                f"{role(position, certificate)} is not allowed to issue certificates",
            )
        purpose = purpose_failure(certificate, position > 0)
        if purpose:
            return TrustFailure(Failure.PURPOSE, f"{role(position, certificate)} {purpose}")
        allowed = path_length(certificate)
        if position > 1 and allowed is not None and plen > allowed:
            return TrustFailure(
                Failure.PATH_LENGTH,
                f"{role(position, certificate)} allows {allowed} CA certificate(s) below it, "
                f"the chain has {plen}",
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
    """x509_vfy.c check_name_constraints(), v3_ncons.c: see `nameconstraints`."""
    found = violation(chain)
    if found is None:
        return None
    ca = role(found.constrainer, chain[found.constrainer])
    who = role(found.subject, chain[found.subject])
    if found.kind == "too-many":
        return TrustFailure(
            Failure.NAME_CONSTRAINTS,
            f"{who} and the name constraints of {ca} are too many to check ({found.name}): "
            f"clients refuse more than {NAME_CHECK_MAX:,} comparisons",
        )
    outside = "outside the names it permits" if found.kind == "permitted" else "a name it excludes"
    return TrustFailure(
        Failure.NAME_CONSTRAINTS,
        f"{ca} is not allowed to issue for {found.name} ({outside}, in {who})",
    )


def _signatures_and_times(chain: list[x509.Certificate], now: datetime) -> TrustFailure | None:
    """x509_vfy.c internal_verify(): from the anchor down, each signature (the anchor's own
    self-signature is not checked), then each validity period."""
    for position in range(len(chain) - 1, -1, -1):
        certificate = chain[position]
        if position < len(chain) - 1:
            issuer = chain[position + 1]
            if not signed_by(certificate, issuer):
                return TrustFailure(
                    Failure.SIGNATURE,
                    f"{role(position, certificate)} has an invalid signature: it does not "
                    "verify with the key of "
                    f"{_signer(position + 1, issuer, len(chain))}",
                )
        if now < certificate.not_valid_before_utc:
            return TrustFailure(
                Failure.NOT_YET_VALID,
                f"{role(position, certificate)} is not yet valid "
                f"(from {_stamp(certificate.not_valid_before_utc)})",
            )
        if now >= certificate.not_valid_after_utc:
            return TrustFailure(
                Failure.EXPIRED,
                f"{role(position, certificate)} expired at "
                f"{_stamp(certificate.not_valid_after_utc)}",
            )
    return None


def _signer(position: int, issuer: x509.Certificate, length: int) -> str:
    kind = "trusted " if position == length - 1 else ""
    return f"{kind}CA certificate {_subject(issuer)}"


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%SZ}"
