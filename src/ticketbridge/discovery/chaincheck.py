"""Path validation as OpenSSL 3 clients do it (`X509_verify_cert`, auth level 2, purpose sslserver).

Each rule cites the OpenSSL source it follows (crypto/x509/x509_vfy.c, v3_purp.c, x509_set.c, the
3.0 branch). The checks run in OpenSSL's order, so the first failure found here is the first one
OpenSSL reports; `tests/oracle/` holds us to that on generated chains. Hostnames are matched
elsewhere (`x509facts.hostname_matches`): trust and name are separate verdicts.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

_E = TypeVar("_E", bound=x509.ExtensionType)

# x509_vfy.c: X509_V_FLAG_X509_STRICT is off for clients, and the default verify depth is 100;
# we stop at 8 (no real chain is longer) which also bounds the work a hostile server can cause.
MAX_CHAIN_DEPTH = 8
# Auth level 2 (Debian's default, SSL_CTX_set_security_level(3)): 112 bits of security.
MIN_SECURITY_BITS = 112


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


@dataclass(frozen=True, slots=True)
class TrustFailure:
    kind: Failure
    reason: str


# v3_purp.c X509_supported_extension(): the only extensions OpenSSL understands when critical.
_HANDLED_CRITICAL = frozenset(
    {
        "2.16.840.1.113730.1.1",  # netscape cert type
        ExtensionOID.KEY_USAGE.dotted_string,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string,
        ExtensionOID.BASIC_CONSTRAINTS.dotted_string,
        ExtensionOID.CERTIFICATE_POLICIES.dotted_string,
        ExtensionOID.CRL_DISTRIBUTION_POINTS.dotted_string,
        ExtensionOID.EXTENDED_KEY_USAGE.dotted_string,
        "1.3.6.1.5.5.7.1.7",  # sbgp-ipAddrBlock
        "1.3.6.1.5.5.7.1.8",  # sbgp-autonomousSysNum
        ExtensionOID.OCSP_NO_CHECK.dotted_string,
        ExtensionOID.POLICY_CONSTRAINTS.dotted_string,
        "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
        ExtensionOID.NAME_CONSTRAINTS.dotted_string,
        ExtensionOID.POLICY_MAPPINGS.dotted_string,
        ExtensionOID.INHIBIT_ANY_POLICY.dotted_string,
    }
)
# x509_set.c ossl_x509_init_sig_info(): a digest is worth half its bits, except SHA-1 (63, after
# the SHAttered collision) and MD5 (39).
_DIGEST_BITS = {"md5": 39, "sha1": 63}


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
    weak = _weak_key(leaf)
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
            if _self_issued(trusted):
                return chain
            continue  # a trusted intermediate still needs a root (no X509_V_FLAG_PARTIAL_CHAIN)
        if _self_issued(current) and _issued_by(current, current):
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
    authority = _extension(subject, x509.AuthorityKeyIdentifier)
    subject_key = _extension(issuer, x509.SubjectKeyIdentifier)
    return (
        authority is None
        or authority.key_identifier is None
        or subject_key is None
        or authority.key_identifier == subject_key.digest
    )


def _self_issued(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _within(certificate: x509.Certificate, now: datetime) -> bool:
    # x509_vfy.c check_cert_time(): valid from notBefore inclusive to notAfter exclusive.
    return certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc


def _extensions_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_chain_extensions() with X509_V_FLAG_X509_STRICT off."""
    plen = 0
    for position, certificate in enumerate(chain):
        who = role(position, certificate)
        critical = _unhandled_critical(certificate)
        if critical:
            return TrustFailure(
                Failure.CRITICAL_EXTENSION,
                f"{who} has a critical extension clients do not understand ({critical})",
            )
        if position > 0 and not _acts_as_ca(certificate, anchor=position == len(chain) - 1):
            return TrustFailure(Failure.NOT_A_CA, f"{who} is not allowed to issue certificates")
        purpose = _purpose_failure(certificate, position > 0)
        if purpose:
            return TrustFailure(Failure.PURPOSE, f"{who} {purpose}")
        path_length = _path_length(certificate)
        if position > 1 and path_length is not None and plen > path_length:
            return TrustFailure(
                Failure.PATH_LENGTH,
                f"{who} allows {path_length} CA certificate(s) below it, the chain has {plen}",
            )
        if position > 0 and not _self_issued(certificate):
            plen += 1
    return None


def _unhandled_critical(certificate: x509.Certificate) -> str | None:
    for extension in _extensions(certificate):
        if extension.critical and extension.oid.dotted_string not in _HANDLED_CRITICAL:
            return (
                extension.oid._name
                if extension.oid._name != "Unknown OID"
                else (extension.oid.dotted_string)
            )
    return None


def _acts_as_ca(certificate: x509.Certificate, anchor: bool) -> bool:
    """v3_purp.c check_ca() as check_chain_extensions() applies it: keyUsage, when present, must
    allow keyCertSign; basicConstraints must say CA (its criticality is not checked). Only the
    anchor may do without basicConstraints, if its keyUsage allows keyCertSign (strictness is
    "implicit for intermediate CAs")."""
    usage = _extension(certificate, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return False
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is not None:
        return constraints.ca
    if not anchor:
        return False
    if certificate.version == x509.Version.v1 and _self_issued(certificate):
        return True  # v3_purp.c: V1_ROOT
    return usage is not None


def _purpose_failure(certificate: x509.Certificate, as_ca: bool) -> str | None:
    """v3_purp.c check_purpose_ssl_server(): an extendedKeyUsage, on any certificate of the
    chain, must list serverAuth (or Netscape/Microsoft SGC); a leaf's keyUsage must allow
    digitalSignature, keyEncipherment or keyAgreement."""
    usage = _extension(certificate, x509.ExtendedKeyUsage)
    allowed = {
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.ObjectIdentifier("2.16.840.1.113730.4.1"),  # Netscape SGC
        x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),  # Microsoft SGC
    }
    if usage is not None and not allowed.intersection(usage):
        return "is not allowed for TLS servers (extendedKeyUsage lacks serverAuth)"
    if as_ca:
        return None
    key_usage = _extension(certificate, x509.KeyUsage)
    if key_usage is not None and not (
        key_usage.digital_signature or key_usage.key_encipherment or key_usage.key_agreement
    ):
        return (
            "is not allowed for TLS servers (keyUsage lacks digitalSignature and keyEncipherment)"
        )
    return None


def _path_length(certificate: x509.Certificate) -> int | None:
    constraints = _extension(certificate, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return None
    return constraints.path_length


def _auth_level_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_auth_level(): every CA key, and every signature but the anchor's own."""
    for position, certificate in enumerate(chain):
        weak = _weak_key(certificate) if position > 0 else None
        if weak:
            return TrustFailure(
                Failure.WEAK_KEY, f"{role(position, certificate)} key is too weak: {weak}"
            )
        if position < len(chain) - 1:
            digest = _weak_digest(certificate)
            if digest:
                return TrustFailure(
                    Failure.WEAK_SIGNATURE,
                    f"{role(position, certificate)} is signed with {digest}, "
                    "which clients no longer accept",
                )
    return None


def _weak_key(certificate: x509.Certificate) -> str | None:
    """x509_vfy.c check_key_level() with EVP_PKEY_get_security_bits(): RSA and DSA below 2048
    bits and EC below 224 bits give fewer than 112 bits of security."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None  # OpenSSL fails such keys later, on the signature
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        kind = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        if key.key_size < 2048:
            return f"{kind}-{key.key_size}, clients require at least {kind}-2048"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size // 2 < MIN_SECURITY_BITS:
            return f"EC {key.curve.name}, clients require a curve of at least 224 bits"
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return None


def _weak_digest(certificate: x509.Certificate) -> str | None:
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    if algorithm is None:
        return None  # Ed25519 (128 bits) and Ed448 (224 bits)
    bits = _DIGEST_BITS.get(algorithm.name, algorithm.digest_size * 4)
    if bits < MIN_SECURITY_BITS:
        return algorithm.name.upper().replace("SHA1", "SHA-1")
    return None


def _name_constraints_failure(chain: list[x509.Certificate]) -> TrustFailure | None:
    """x509_vfy.c check_name_constraints() for DNS names and IP addresses of the leaf."""
    names, addresses = _leaf_names(chain[0])
    for position, certificate in enumerate(chain[1:], start=1):
        constraints = _extension(certificate, x509.NameConstraints)
        if constraints is None:
            continue
        for name in names:
            if not _dns_allowed(name, constraints):
                return TrustFailure(
                    Failure.NAME_CONSTRAINTS,
                    f"{role(position, certificate)} is not allowed to issue for {name}",
                )
        for address in addresses:
            if not _ip_allowed(address, constraints):
                return TrustFailure(
                    Failure.NAME_CONSTRAINTS,
                    f"{role(position, certificate)} is not allowed to issue for {address}",
                )
    return None


def _leaf_names(
    leaf: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    san = _extension(leaf, x509.SubjectAlternativeName)
    if san is None:
        return [], []
    addresses = [
        a
        for a in san.get_values_for_type(x509.IPAddress)
        if isinstance(a, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return [n.lower() for n in san.get_values_for_type(x509.DNSName)], addresses


def _dns_within(name: str, base: str) -> bool:
    # x509/v3_ncons.c nc_dns(): an empty base matches all; otherwise equal or a subdomain.
    base = base.lower().lstrip(".")
    return not base or name == base or name.endswith("." + base)


def _dns_allowed(name: str, constraints: x509.NameConstraints) -> bool:
    excluded = [s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.DNSName)]
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.DNSName)
    ]
    if any(_dns_within(name, base) for base in excluded):
        return False
    return not permitted or any(_dns_within(name, base) for base in permitted)


def _ip_allowed(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, constraints: x509.NameConstraints
) -> bool:
    def networks(
        subtrees: list[x509.GeneralName] | None,
    ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            s.value
            for s in subtrees or ()
            if isinstance(s, x509.IPAddress)
            and isinstance(s.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
        ]

    if any(address in net for net in networks(constraints.excluded_subtrees)):
        return False
    permitted = networks(constraints.permitted_subtrees)
    return not permitted or any(address in net for net in permitted)


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


def _extensions(certificate: x509.Certificate) -> list[x509.Extension[x509.ExtensionType]]:
    try:
        return list(certificate.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return []


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None
