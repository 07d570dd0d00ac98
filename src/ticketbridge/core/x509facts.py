"""DER bytes to CertFacts with `cryptography`, and the pure rules about names and expiry."""

from __future__ import annotations

import hashlib
import ipaddress
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from ticketbridge.core.model import CertFacts, is_ip_literal
from ticketbridge.errors import TicketbridgeError

# A served chain rarely repeats fewer than a few hundred distinct certificates per run, while the
# same wildcard may be served on thousands of endpoints: parse each DER once.
_FACTS_CACHE_SIZE = 8192


class CertificateParseError(TicketbridgeError, ValueError):
    """The bytes are not a certificate `cryptography` can read (discovery makes it an observation)."""


def fingerprint_sha256(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@lru_cache(maxsize=_FACTS_CACHE_SIZE)
def facts_from_der(der: bytes) -> CertFacts:
    """Read every fact ticketbridge uses from one DER certificate; verifies nothing."""
    try:
        with warnings.catch_warnings():
            # Negative or oversized serials are facts to report, not reasons to stop.
            warnings.simplefilter("ignore")
            certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise CertificateParseError(f"not a DER X.509 certificate: {exc}") from exc
    return facts_from_certificate(certificate, der)


def facts_from_certificate(certificate: x509.Certificate, der: bytes | None = None) -> CertFacts:
    with warnings.catch_warnings():
        # cryptography warns (lazily, on whichever field is read first) about non-positive
        # serials and similar sins; such certificates are served, and their facts still count.
        warnings.simplefilter("ignore")
        return _facts(certificate, der)


def _facts(certificate: x509.Certificate, der: bytes | None) -> CertFacts:
    from cryptography.hazmat.primitives.serialization import Encoding

    raw = der if der is not None else certificate.public_bytes(Encoding.DER)
    dns_names, ip_addresses = _subject_alternative_names(certificate)
    return CertFacts(
        fingerprint_sha256=fingerprint_sha256(raw),
        serial=_serial_hex(certificate),
        subject=_name_text(lambda: certificate.subject),
        issuer=_name_text(lambda: certificate.issuer),
        names=dns_names,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        common_name=_common_name(certificate),
        ip_addresses=ip_addresses,
        is_ca=_is_ca(certificate),
        self_signed=_is_self_signed(certificate),
        key_type=_key_type(certificate),
        signature_algorithm=_signature_algorithm(certificate),
    )


def _serial_hex(certificate: x509.Certificate) -> str:
    with warnings.catch_warnings():
        # cryptography warns about a non-positive serial when it is read, not when the
        # certificate is loaded: the suppression in facts_from_der does not cover it.
        warnings.simplefilter("ignore")
        serial = certificate.serial_number
    return ("-" if serial < 0 else "") + format(abs(serial), "x")


# RFC 4514 §3 names the attribute types of its table (CN, L, ST, O, OU, C, STREET, DC, UID) and
# lets other registered short names stand for their OIDs; these are the ones OpenSSL prints
# (crypto/objects/objects.txt, as `openssl x509 -subject -nameopt RFC2253` shows them), where
# `cryptography` would print dotted OIDs.
_SHORT_NAMES = {
    x509.ObjectIdentifier(dotted): short
    for dotted, short in {
        "2.5.4.4": "SN",
        "2.5.4.5": "serialNumber",
        "2.5.4.12": "title",
        "2.5.4.13": "description",
        "2.5.4.15": "businessCategory",
        "2.5.4.16": "postalAddress",
        "2.5.4.17": "postalCode",
        "2.5.4.18": "postOfficeBox",
        "2.5.4.19": "physicalDeliveryOfficeName",
        "2.5.4.20": "telephoneNumber",
        "2.5.4.23": "facsimileTelephoneNumber",
        "2.5.4.26": "registeredAddress",
        "2.5.4.41": "name",
        "2.5.4.42": "GN",
        "2.5.4.43": "initials",
        "2.5.4.44": "generationQualifier",
        "2.5.4.45": "x500UniqueIdentifier",
        "2.5.4.46": "dnQualifier",
        "2.5.4.51": "houseIdentifier",
        "2.5.4.54": "dmdName",
        "2.5.4.65": "pseudonym",
        "2.5.4.72": "role",
        "2.5.4.97": "organizationIdentifier",
        "1.2.840.113549.1.9.1": "emailAddress",
        "1.2.840.113549.1.9.2": "unstructuredName",
        "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL",
        "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
        "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
        "1.2.643.100.1": "OGRN",
        "1.2.643.100.3": "SNILS",
        "1.2.643.100.5": "OGRNIP",
        "1.2.643.3.131.1.1": "INN",
    }.items()
}
# Signature algorithms `cryptography` has no name for, named as OpenSSL names them.
_SIGNATURE_NAMES = {
    "1.2.840.113549.1.1.2": "md2WithRSAEncryption",
    "1.2.840.113549.1.1.3": "md4WithRSAEncryption",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    # The bare MD5 digest OID, which some 1990s CAs wrote as the signature algorithm.
    "1.2.840.113549.2.5": "md5WithRSAEncryption",
}


# What a subject or issuer reads as when its DER is not valid (a UTF8String that is not UTF-8):
# the certificate is still served, and its expiry still counts.
UNREADABLE_NAME = "(unreadable: not a valid X.501 name)"


def _name_text(read: Callable[[], x509.Name]) -> str:
    try:
        name = read()
    except (ValueError, TypeError):  # TypeError: cryptography refuses e.g. a BIT STRING CN
        return UNREADABLE_NAME
    return _rfc4514(name)


def _rfc4514(name: x509.Name) -> str:
    try:
        return ",".join(
            "+".join(_rfc4514_attribute(attribute) for attribute in rdn)
            for rdn in reversed(name.rdns)
        )
    except ValueError:  # undecodable attribute values: fall back to the raw DER, in hex
        return "#" + name.public_bytes().hex()


def _rfc4514_attribute(attribute: x509.NameAttribute[str | bytes]) -> str:
    text = attribute.rfc4514_string(_SHORT_NAMES)
    if not isinstance(attribute.value, bytes):
        return text
    # A BIT STRING value (x500UniqueIdentifier): RFC 4514 §2.4 writes "#" and the hex of its
    # whole BER encoding, tag and length included, as OpenSSL does; `cryptography` leaves out
    # the tag and length.
    value = attribute.value
    encoded = bytes([0x03, len(value)]) if len(value) < 0x80 else b""
    if not encoded:
        return text
    return text.split("=", 1)[0] + "=#" + (encoded + value).hex().upper()


def _subject_alternative_names(
    certificate: x509.Certificate,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return (), ()
    # A malformed or duplicated extension must not hide the rest of the facts;
    # DuplicateExtension and UnsupportedGeneralNameType are not ValueErrors.
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return (), ()
    san = extension.value
    dns_names = tuple(san.get_values_for_type(x509.DNSName))
    # An 8- or 32-byte iPAddress parses as a network (legal only in name constraints): not a host.
    ip_addresses = tuple(
        str(address)
        for address in san.get_values_for_type(x509.IPAddress)
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    )
    return dns_names, ip_addresses


def _common_name(certificate: x509.Certificate) -> str | None:
    try:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError):
        return None
    if not attributes:
        return None
    # Always a str: cryptography (>= 45) allows bytes only for a BIT STRING, which it refuses
    # for any OID but x500UniqueIdentifier (TypeError, above), so no decode branch is needed.
    return str(attributes[0].value)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return False
    return constraints.value.ca


def _is_self_signed(certificate: x509.Certificate) -> bool:
    try:
        if certificate.issuer != certificate.subject:
            return False
    except (ValueError, TypeError):  # an unreadable name cannot be shown to be its own issuer
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except Exception:  # noqa: BLE001 - bad signatures and unsupported keys raise a zoo of errors
        return False
    return True


def _key_type(certificate: x509.Certificate) -> str:
    try:
        key = certificate.public_key()
    except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
        return "unknown"
    except Exception:  # noqa: BLE001 - an unsupported algorithm is a fact, not a crash
        return "unknown"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA-{key.key_size}"
    return type(key).__name__


def _signature_algorithm(certificate: x509.Certificate) -> str:
    dotted = certificate.signature_algorithm_oid.dotted_string
    if dotted in _SIGNATURE_NAMES:
        return _SIGNATURE_NAMES[dotted]
    try:
        algorithm = certificate.signature_hash_algorithm
    except Exception:  # noqa: BLE001 - unknown OIDs raise UnsupportedAlgorithm
        return dotted
    name = certificate.signature_algorithm_oid._name
    if name and name != "Unknown OID":
        return str(name)
    return (
        algorithm.name
        if algorithm is not None
        else certificate.signature_algorithm_oid.dotted_string
    )


def effective_not_after(chain: Sequence[CertFacts]) -> datetime | None:
    """The earliest notAfter of the leaf and every served intermediate: the fallback when the
    served-path analysis (discovery/servedpaths.py) cannot read a chain.

    A self-signed CA served after the leaf is a root: reported, but it does not count, because
    clients use their own copy of a root, never the served one.
    """
    if not chain:
        return None
    counted = [chain[0], *(c for c in chain[1:] if not (c.self_signed and c.is_ca))]
    return min(c.not_after for c in counted)


def canonical_name(name: str) -> str:
    """One DNS name as tracking compares it: case and a trailing root dot never make a second
    certificate (RFC 4343: DNS names compare case-insensitively; RFC 1034 section 3.1:
    `mixed.test.` is the absolute form of `mixed.test`)."""
    return name.strip().rstrip(".").lower()


def canonical_names(facts: CertFacts) -> tuple[str, ...]:
    """Lower-cased, de-duplicated, sorted SAN DNS names without a trailing dot; the subject CN
    where there are none."""
    names = {canonical_name(name) for name in facts.names} - {""}
    if not names and facts.common_name:
        names = {canonical_name(facts.common_name)} - {""}
    if not names:
        names = {f"sha256:{facts.fingerprint_sha256}"}
    return tuple(sorted(names))


def tracked_id(names: Iterable[str]) -> str:
    """First 16 hex digits of the SHA-256 of the canonical name set joined by newlines."""
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()[:16]


@lru_cache(maxsize=65536)
def _to_ascii_hostname(host: str) -> str:
    host = host.strip().rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def hostname_matches(host: str, facts: CertFacts) -> bool:
    """RFC 6125 matching of a host (or IP literal) against the certificate's SANs.

    The subject CN is never consulted, as in every current browser and in Python's `ssl`.
    A wildcard stands for exactly one whole left-most label.
    """
    if is_ip_literal(host):
        wanted = ipaddress.ip_address(host.strip("[]"))
        return any(ipaddress.ip_address(a) == wanted for a in facts.ip_addresses)
    wanted_labels = _to_ascii_hostname(host).split(".")
    for name in facts.names:
        pattern = name.strip().rstrip(".").lower().split(".")
        if len(pattern) != len(wanted_labels):
            continue
        if pattern == wanted_labels:
            return True
        if (
            pattern[0] == "*"
            and len(pattern) >= 3
            and wanted_labels[0]  # a wildcard stands for one label, never an empty one
            and pattern[1:] == wanted_labels[1:]
        ):
            return True
    return False
