"""Finding a certificate's issuer the way OpenSSL 3 does: canonical name comparison, the
authority key identifier, the signature algorithm, and the order candidates are preferred in.

Each rule cites the OpenSSL source it follows (crypto/x509/x509_cmp.c, x_name.c, v3_purp.c,
x509_vfy.c, x509_lu.c; the 3.0 branch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, padding, rsa

# x_name.c x509_name_canon(): values of these string types are compared as canonical UTF-8
# (ASN1_MASK_CANON); any other type (BIT STRING, NumericString, ...) is compared as encoded.
# Tag -> how its bytes decode: UTF8String, PrintableString, T61String (read as Latin-1, as
# OpenSSL does), IA5String, VisibleString, UniversalString, BMPString.
_CANONICAL_TAGS = {
    12: "utf-8",
    19: "latin-1",
    20: "latin-1",
    22: "latin-1",
    26: "latin-1",
    28: "utf-32-be",
    30: "utf-16-be",
}
# ctype.c ossl_isspace(): the ASCII white space asn1_string_canon() trims and collapses.
_SPACE = " \t\n\v\f\r"

_E = TypeVar("_E", bound=x509.ExtensionType)

CanonicalAttribute = tuple[bytes, str | bytes]
CanonicalName = tuple[tuple[CanonicalAttribute, ...], ...]


def _canonical_value(value: str) -> str:
    """x_name.c asn1_string_canon(): trim white space, collapse inner runs to one space, and
    lower-case ASCII letters only (bytes with the top bit set are copied as they are)."""
    text = value.strip(_SPACE)
    out: list[str] = []
    in_space = False
    for char in text:
        if char in _SPACE:
            if not in_space:
                out.append(" ")
            in_space = True
            continue
        in_space = False
        out.append(char.lower() if char.isascii() else char)
    return "".join(out)


def _element(der: bytes, position: int) -> tuple[int, int, int]:
    """One DER element at `position`: its tag, where its contents start, where it ends."""
    if position + 2 > len(der):
        raise ValueError("truncated DER")
    tag, first = der[position], der[position + 1]
    start = position + 2
    size = first
    if first & 0x80:
        count = first & 0x7F
        size = int.from_bytes(der[start : start + count], "big")
        start += count
    if start + size > len(der):
        raise ValueError("truncated DER")
    return tag, start, start + size


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    found, position = [], start
    while position < end:
        element = _element(der, position)
        found.append(element)
        position = element[2]
    return found


def canonical_from_der(der: bytes) -> CanonicalName:
    """A Name's DER as X509_NAME_cmp() compares it: RDN by RDN, each attribute's type and
    canonical value, a multi-valued RDN's attributes in a fixed order (DER sorts a SET). Read
    from the bytes, so names `cryptography` will not build (a BIT STRING CN) still compare."""
    _, start, end = _element(der, 0)
    rdns = []
    for _, set_start, set_end in _children(der, start, end):
        attributes: list[CanonicalAttribute] = []
        for _, pair_start, pair_end in _children(der, set_start, set_end):
            (_, oid_start, oid_end), (tag, value_start, value_end) = _children(
                der, pair_start, pair_end
            )[:2]
            oid, raw = der[oid_start:oid_end], der[value_start:value_end]
            attributes.append((oid, _attribute_value(tag, raw)))
        rdns.append(tuple(sorted(attributes, key=repr)))
    return tuple(rdns)


def _attribute_value(tag: int, raw: bytes) -> str | bytes:
    encoding = _CANONICAL_TAGS.get(tag)
    if encoding is not None:
        try:
            return _canonical_value(raw.decode(encoding))
        except UnicodeDecodeError:
            pass
    return bytes([tag]) + raw


def canonical_name(name: x509.Name) -> CanonicalName:
    return canonical_from_der(name.public_bytes())


def name_der(certificate: x509.Certificate, which: str) -> bytes:
    """The DER of a certificate's issuer or subject, cut from its TBS (RFC 5280 §4.1: [0]
    version, serialNumber, signature, issuer, validity, subject)."""
    tbs = certificate.tbs_certificate_bytes
    _, start, end = _element(tbs, 0)
    fields = _children(tbs, start, end)
    offset = 1 if fields and fields[0][0] == 0xA0 else 0
    _, _, field_end = fields[offset + (2 if which == "issuer" else 4)]
    field_start = fields[offset + (1 if which == "issuer" else 3)][2]
    return tbs[field_start:field_end]


def subject_key(certificate: x509.Certificate) -> CanonicalName:
    return _cached_canonical(certificate, "subject")


def issuer_key(certificate: x509.Certificate) -> CanonicalName:
    return _cached_canonical(certificate, "issuer")


_BY_IDENTITY: dict[tuple[int, str], tuple[x509.Certificate, CanonicalName]] = {}


def _cached_canonical(certificate: x509.Certificate, which: str) -> CanonicalName:
    # First by identity (path building asks about the same objects many times; hashing a
    # certificate hashes its DER), holding the certificate so that a recycled id() never aliases.
    key = (id(certificate), which)
    hit = _BY_IDENTITY.get(key)
    if hit is not None and hit[0] is certificate:
        return hit[1]
    canonical = _canonical_of(certificate, which)
    if len(_BY_IDENTITY) > 8192:
        _BY_IDENTITY.clear()
    _BY_IDENTITY[key] = (certificate, canonical)
    return canonical


# Then by the certificate's DER (cryptography hashes and compares certificates by it), so the
# one intermediate under a thousand leaves is read once however many times its chain is parsed.
@lru_cache(maxsize=4096)
def _canonical_of(certificate: x509.Certificate, which: str) -> CanonicalName:
    try:
        return _canonical_name_der(name_der(certificate, which))
    except (ValueError, IndexError):
        return (((b"undecodable", which),),)


@lru_cache(maxsize=4096)
def _canonical_name_der(der: bytes) -> CanonicalName:
    """canonical_from_der, once per distinct name: a leaf's issuer is its CA's subject."""
    return canonical_from_der(der)


def self_issued(certificate: x509.Certificate) -> bool:
    """v3_purp.c ossl_x509v3_cache_extensions(): EXFLAG_SI, subject and issuer equal as
    X509_NAME_cmp() compares them."""
    return subject_key(certificate) == issuer_key(certificate)


def self_signed(certificate: x509.Certificate) -> bool:
    """EXFLAG_SS: self-issued, and its own key could have made its signature."""
    return issuer_mismatch(certificate, certificate) is None


def issuer_mismatch(subject: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """Why `issuer` cannot have issued `subject`, or None when it likely did.

    v3_purp.c ossl_x509_likely_issued(): the names chain (canonical comparison), the authority
    key identifier matches (X509_check_akid: key id, issuer name and serial, each when present),
    and the issuer's key is of the kind the subject's signature algorithm needs
    (check_sig_alg_match). The signature itself is verified later, as OpenSSL does.
    """
    if issuer_key(subject) != subject_key(issuer):
        return "name"
    akid = _extension(subject, x509.AuthorityKeyIdentifier)
    if akid is not None:
        skid = _extension(issuer, x509.SubjectKeyIdentifier)
        if (
            akid.key_identifier is not None
            and skid is not None
            and akid.key_identifier != skid.digest
        ):
            return "key identifier"
        serial = akid.authority_cert_serial_number
        if serial is not None and serial != issuer.serial_number:
            return "serial"
        directory = next(
            (
                n.value
                for n in akid.authority_cert_issuer or ()
                if isinstance(n, x509.DirectoryName)
            ),
            None,
        )
        if directory is not None and canonical_name(directory) != issuer_key(issuer):
            return "serial"
    return _algorithm_mismatch(subject, issuer)


# obj_xref.h: each signature algorithm's public key type (OBJ_find_sigid_algs).
_RSA_SIGNATURES = {
    "1.2.840.113549.1.1." + n for n in ("2", "3", "4", "5", "10", "11", "12", "13", "14")
}
_ECDSA_SIGNATURES = {"1.2.840.10045.4.1", *("1.2.840.10045.4.3." + n for n in "1234")}
_DSA_SIGNATURES = {"1.2.840.10040.4.3", "2.16.840.1.101.3.4.3.1", "2.16.840.1.101.3.4.3.2"}
_ED25519, _ED448 = "1.3.101.112", "1.3.101.113"


def _algorithm_mismatch(subject: x509.Certificate, issuer: x509.Certificate) -> str | None:
    """v3_purp.c check_sig_alg_match(): no usable issuer key, or a key of another kind."""
    try:
        key = issuer.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return "no key"
    oid = subject.signature_algorithm_oid.dotted_string
    if oid in _RSA_SIGNATURES:
        wanted: type | tuple[type, ...] = rsa.RSAPublicKey
    elif oid in _ECDSA_SIGNATURES:
        wanted = ec.EllipticCurvePublicKey
    elif oid in _DSA_SIGNATURES:
        wanted = dsa.DSAPublicKey
    elif oid == _ED25519:
        wanted = ed25519.Ed25519PublicKey
    elif oid == _ED448:
        wanted = ed448.Ed448PublicKey
    else:
        return "algorithm"  # X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM
    return None if isinstance(key, wanted) else "key type"


@lru_cache(maxsize=1024)
def signed_by(subject: x509.Certificate, issuer: x509.Certificate) -> bool:
    """x509_vfy.c internal_verify() -> X509_verify(): the issuer's key verifies the subject's
    signature over its TBS bytes. Names are not compared again (cryptography's
    verify_directly_issued_by would compare them byte for byte, refusing names OpenSSL's
    canonical comparison already matched). Remembered per pair of certificates (compared by
    their DER): the CA's signature on the one intermediate under many leaves is checked once."""
    try:
        key = issuer.public_key()
        signature, tbs = subject.signature, subject.tbs_certificate_bytes
        parameters = subject.signature_algorithm_parameters
        digest = subject.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey):
            assert isinstance(parameters, padding.PKCS1v15 | padding.PSS) and digest is not None
            key.verify(signature, tbs, parameters, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            assert isinstance(parameters, ec.ECDSA)
            key.verify(signature, tbs, parameters)
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, tbs)
        elif isinstance(key, dsa.DSAPublicKey) and digest is not None:
            key.verify(signature, tbs, digest)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, AssertionError, UnsupportedAlgorithm):
        return False
    return True


def within(certificate: x509.Certificate, now: datetime) -> bool:
    # x509_vfy.c check_cert_time(): valid from notBefore inclusive to notAfter exclusive.
    return certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc


def preferred_issuer(
    certificate: x509.Certificate, candidates: Iterable[x509.Certificate], now: datetime
) -> x509.Certificate | None:
    """x509_vfy.c find_issuer() and x509_lu.c X509_STORE_CTX_get1_issuer(): the first likely
    issuer inside its validity period, else the likely issuer whose notAfter is latest."""
    best: x509.Certificate | None = None
    for candidate in candidates:
        if issuer_mismatch(certificate, candidate) is not None:
            continue
        if within(candidate, now):
            return candidate
        if best is None or candidate.not_valid_after_utc > best.not_valid_after_utc:
            best = candidate
    return best


class Anchors:
    """The trust store, indexed by canonical subject name as X509_STORE keeps it (x509_lu.c:
    objects sorted by name, same-name entries in the order they were added)."""

    def __init__(self, anchors: Sequence[x509.Certificate]) -> None:
        self.certificates = tuple(anchors)
        self._by_name: dict[CanonicalName, list[x509.Certificate]] = {}
        for anchor in self.certificates:
            self._by_name.setdefault(subject_key(anchor), []).append(anchor)

    def __len__(self) -> int:
        return len(self.certificates)

    def __contains__(self, certificate: object) -> bool:
        if not isinstance(certificate, x509.Certificate):
            return False
        return certificate in self._by_name.get(subject_key(certificate), ())

    def named(self, name: CanonicalName) -> list[x509.Certificate]:
        return self._by_name.get(name, [])

    def issuer_of(self, certificate: x509.Certificate, now: datetime) -> x509.Certificate | None:
        return preferred_issuer(certificate, self.named(issuer_key(certificate)), now)


def _extension(certificate: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError, x509.DuplicateExtension):
        return None
    except x509.UnsupportedGeneralNameType:
        return None
