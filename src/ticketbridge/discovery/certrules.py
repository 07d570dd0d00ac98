"""What OpenSSL 3 asks of each certificate of a chain, one rule at a time: acting as a CA, the
TLS-server purpose, understood critical extensions, key and digest strength, name constraints.

Each rule cites the OpenSSL source it follows (crypto/x509/v3_purp.c, x509_vfy.c, x509_set.c,
v3_ncons.c; the 3.0 branch); `chaincheck` applies them in OpenSSL's order.
"""

from __future__ import annotations

import math
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

from ticketbridge.discovery import issuers

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
    if usage is not None:
        return True
    netscape = ns_cert_type(certificate)  # v3_purp.c check_ca(): "Netscape-specific CA types"
    return netscape is not None and bool(netscape & NS_ANY_CA)


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
    netscape = ns_cert_type(certificate)
    if as_ca:
        # check_ssl_ca(): a CA known as one only by nsCertType must have its SSL CA bit.
        if (
            netscape is not None
            and extension(certificate, x509.BasicConstraints) is None
            and extension(certificate, x509.KeyUsage) is None
            and not (certificate.version == x509.Version.v1 and self_issued(certificate))
            and netscape & NS_ANY_CA
            and not netscape & NS_SSL_CA
        ):
            return "is not allowed to issue TLS server certificates (nsCertType lacks sslCA)"
        return None
    if netscape is not None and not netscape & NS_SSL_SERVER:
        # ns_reject(x, NS_SSL_SERVER): the old Netscape type is obeyed, extendedKeyUsage or not.
        return "is not allowed for TLS servers (nsCertType lacks sslServer)"
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


# v3_purp.c: the nsCertType bits OpenSSL reads (NS_SSL_SERVER, NS_SSL_CA, NS_ANY_CA).
NS_SSL_SERVER = 0x40
NS_SSL_CA = 0x04
NS_ANY_CA = 0x07
_NS_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")

# rsa_lib.c RSA_security_bits() -> ossl_ifc_ffc_compute_security_bits(): SP 800-56B's formula,
# evaluated by OpenSSL in fixed point. At 112 bits its edge is 1,963 bits, measured against
# `openssl verify -auth_level 2` (OpenSSL 3.0): RSA-1962 is refused, RSA-1963 accepted.
RSA_MIN_BITS = 1963
_RSA_TABLE = {2048: 112, 3072: 128, 4096: 152, 6144: 176, 8192: 200}


def rsa_security_bits(size: int) -> int:
    """The security bits OpenSSL credits an RSA modulus of `size` bits with (a multiple of 8)."""
    if size in _RSA_TABLE:
        return _RSA_TABLE[size]
    if size < 8:
        return 0
    x = size * math.log(2)
    bits = (1.923 * (x * math.log(x) ** 2) ** (1 / 3) - 4.69) / math.log(2)
    rounded = (int(bits) + 4) & ~7
    if size >= RSA_MIN_BITS:
        return max(rounded, MIN_SECURITY_BITS)
    return min(rounded, MIN_SECURITY_BITS - 8)


def weak_key(certificate: x509.Certificate) -> str | None:
    """x509_vfy.c check_key_level() with EVP_PKEY_get_security_bits(): fewer than 112 bits of
    security. RSA follows OpenSSL's formula (RSA-1963 and up pass); DSA's table needs 2048 bits
    (bn_lib.c BN_security_bits()); EC gives half its order's bits."""
    try:
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return None  # OpenSSL fails such keys later, on the signature
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < RSA_MIN_BITS:
            bits = rsa_security_bits(key.key_size)
            return (
                f"RSA-{key.key_size} gives {bits}-bit security, "
                f"clients require {MIN_SECURITY_BITS}-bit security"
            )
    elif isinstance(key, dsa.DSAPublicKey):
        if key.key_size < 2048:
            return (
                f"DSA-{key.key_size} gives at most 80-bit security, "
                f"clients require {MIN_SECURITY_BITS}-bit security"
            )
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.key_size // 2 < MIN_SECURITY_BITS:
            return (
                f"EC {key.curve.name} gives {key.curve.key_size // 2}-bit security, "
                f"clients require {MIN_SECURITY_BITS}-bit security"
            )
    elif not isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return None
    return None


def ns_cert_type(certificate: x509.Certificate) -> int | None:
    """v3_purp.c: ex_nscert, the first byte of a Netscape cert type BIT STRING, or None."""
    try:
        found = certificate.extensions.get_extension_for_oid(_NS_CERT_TYPE).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return None
    except x509.UnsupportedGeneralNameType:
        return None
    raw = getattr(found, "value", b"")
    # DER BIT STRING: tag 0x03, one length byte (a short one here), unused-bits count, bits.
    if len(raw) < 3 or raw[0] != 0x03:
        return None
    return raw[3] if len(raw) > 3 else 0


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
    return issuers.self_issued(certificate)
