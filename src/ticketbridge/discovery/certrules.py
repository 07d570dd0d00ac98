"""What OpenSSL 3 asks of each certificate of a chain, one rule at a time: acting as a CA, the
TLS-server purpose, understood critical extensions, key and digest strength, name constraints.

Each rule cites the OpenSSL source it follows (crypto/x509/v3_purp.c, x509_vfy.c, x509_set.c,
v3_ncons.c; the 3.0 branch); `chaincheck` applies them in OpenSSL's order.
"""

from __future__ import annotations

import ipaddress
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

_E = TypeVar("_E", bound=x509.ExtensionType)

# Auth level 2 (Debian's default, SSL_CTX_set_security_level(3)): 112 bits of security.
MIN_SECURITY_BITS = 112

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


def unhandled_critical(certificate: x509.Certificate) -> str | None:
    for extension in _all_extensions(certificate):
        if extension.critical and extension.oid.dotted_string not in _HANDLED_CRITICAL:
            return (
                extension.oid._name
                if extension.oid._name != "Unknown OID"
                else (extension.oid.dotted_string)
            )
    return None


def acts_as_ca(certificate: x509.Certificate, anchor: bool) -> bool:
    """v3_purp.c check_ca() as check_chain_extensions() applies it: keyUsage, when present, must
    allow keyCertSign; basicConstraints must say CA (its criticality is not checked). Only the
    anchor may do without basicConstraints, if its keyUsage allows keyCertSign (strictness is
    "implicit for intermediate CAs")."""
    usage = extension(certificate, x509.KeyUsage)
    if usage is not None and not usage.key_cert_sign:
        return False
    constraints = extension(certificate, x509.BasicConstraints)
    if constraints is not None:
        return constraints.ca
    if not anchor:
        return False
    if certificate.version == x509.Version.v1 and self_issued(certificate):
        return True  # v3_purp.c: V1_ROOT
    return usage is not None


def purpose_failure(certificate: x509.Certificate, as_ca: bool) -> str | None:
    """v3_purp.c check_purpose_ssl_server(): an extendedKeyUsage, on any certificate of the
    chain, must list serverAuth (or Netscape/Microsoft SGC); a leaf's keyUsage must allow
    digitalSignature, keyEncipherment or keyAgreement."""
    usage = extension(certificate, x509.ExtendedKeyUsage)
    allowed = {
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.ObjectIdentifier("2.16.840.1.113730.4.1"),  # Netscape SGC
        x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.3"),  # Microsoft SGC
    }
    if usage is not None and not allowed.intersection(usage):
        return "is not allowed for TLS servers (extendedKeyUsage lacks serverAuth)"
    if as_ca:
        return None
    key_usage = extension(certificate, x509.KeyUsage)
    if key_usage is not None and not (
        key_usage.digital_signature or key_usage.key_encipherment or key_usage.key_agreement
    ):
        return (
            "is not allowed for TLS servers (keyUsage lacks digitalSignature and keyEncipherment)"
        )
    return None


def path_length(certificate: x509.Certificate) -> int | None:
    constraints = extension(certificate, x509.BasicConstraints)
    if constraints is None or not constraints.ca:
        return None
    return constraints.path_length


def weak_key(certificate: x509.Certificate) -> str | None:
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


def weak_digest(certificate: x509.Certificate) -> str | None:
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


def leaf_names(
    leaf: x509.Certificate,
) -> tuple[list[str], list[ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    san = extension(leaf, x509.SubjectAlternativeName)
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


def dns_allowed(name: str, constraints: x509.NameConstraints) -> bool:
    excluded = [s.value for s in constraints.excluded_subtrees or () if isinstance(s, x509.DNSName)]
    permitted = [
        s.value for s in constraints.permitted_subtrees or () if isinstance(s, x509.DNSName)
    ]
    if any(_dns_within(name, base) for base in excluded):
        return False
    return not permitted or any(_dns_within(name, base) for base in permitted)


def ip_allowed(
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


def _all_extensions(certificate: x509.Certificate) -> list[x509.Extension[x509.ExtensionType]]:
    try:
        return list(certificate.extensions)
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return []


def extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return None


def self_issued(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject
