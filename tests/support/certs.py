"""Throwaway certificate authorities and odd certificates for tests, built with `cryptography`.

Everything returns real `x509.Certificate` objects (or raw DER where `cryptography` refuses to
build the oddity, such as a negative serial), plus writers for PEM, DER and PKCS#12 files.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

# The certificate-and-key pair the tests pass around is the package's own.
from ticketbridge.testing.pki import CA_KEY_USAGE
from ticketbridge.testing.pki import Issued as Issued
from ticketbridge.testing.pki import PrivateKey as PrivateKey

KeyKind = Literal["ec", "rsa"]

# Fixed so that tests comparing dates never depend on the day they run.
DEFAULT_NOT_BEFORE = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_NOT_AFTER = datetime(2026, 12, 5, 21, 44, 22, tzinfo=UTC)

# Attribute values that have broken log viewers, terminals and HTML reports elsewhere.
HOSTILE_COMMON_NAMES: tuple[str, ...] = (
    "evil\nINJECTED: line",
    "[bold red]rich markup[/bold red]",
    "<script>alert(1)</script>",
    "\u202etxt.exe",  # right-to-left override
    'quote " and , comma + plus; semi \\ backslash',
    "\x1b[31mANSI escape",
)


def key_pem(key: PrivateKey) -> bytes:
    """An unencrypted PKCS#8 PEM block: what sits beside the certificate in many server files."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@cache
def cached_key(kind: KeyKind = "ec", slot: str = "default") -> PrivateKey:
    """One key per (kind, slot) per process: RSA generation would dominate test time otherwise."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def many_names(count: int, domain: str = "example.com") -> list[str]:
    """`count` distinct DNS names under `domain`, for certificates with huge SAN lists."""
    return [f"host{index}.{domain}" for index in range(count)]


def name_with(
    common_name: str | None = None, extra: Sequence[tuple[x509.ObjectIdentifier, str]] = ()
) -> x509.Name:
    """A subject with an optional CN and any further attributes, in the order given."""
    attributes = [x509.NameAttribute(oid, value) for oid, value in extra]
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def make_ca(
    common_name: str = "Test Root CA",
    *,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_BEFORE + timedelta(days=3650),
    key_kind: KeyKind = "ec",
) -> Issued:
    """A self-signed root CA."""
    key = cached_key(key_kind, f"ca:{common_name}")
    subject = name_with(common_name)
    certificate = _build(
        subject=subject,
        issuer_name=subject,
        public_key=key,
        signing_key=key,
        serial=x509.random_serial_number(),
        not_before=not_before,
        not_after=not_after,
        extensions=_ca_extensions(key, key),
    )
    return Issued(certificate, key)


def make_intermediate(
    issuer: Issued,
    common_name: str = "Test Intermediate CA",
    *,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_BEFORE + timedelta(days=1825),
    key_kind: KeyKind = "ec",
) -> Issued:
    """A CA certificate signed by `issuer`."""
    key = cached_key(key_kind, f"ca:{common_name}")
    certificate = _build(
        subject=name_with(common_name),
        issuer_name=issuer.certificate.subject,
        public_key=key,
        signing_key=issuer.key,
        serial=x509.random_serial_number(),
        not_before=not_before,
        not_after=not_after,
        extensions=_ca_extensions(key, issuer.key),
    )
    return Issued(certificate, key)


def make_leaf(
    issuer: Issued | None = None,
    *,
    names: Sequence[str] = ("example.com",),
    common_name: str | None = None,
    ip_addresses: Sequence[str] = (),
    subject: x509.Name | None = None,
    not_before: datetime = DEFAULT_NOT_BEFORE,
    not_after: datetime = DEFAULT_NOT_AFTER,
    serial: int | None = None,
    san_critical: bool = False,
    key_kind: KeyKind = "ec",
    key_slot: str = "leaf",
) -> Issued:
    """An end-entity certificate; self-signed when `issuer` is None.

    With no `names` and no `ip_addresses` the certificate has no SAN extension at all. The subject
    is `subject` when given, else just `common_name` (possibly no attributes at all).
    """
    key = cached_key(key_kind, key_slot)
    subject_name = subject if subject is not None else name_with(common_name)
    extensions: list[tuple[x509.ExtensionType, bool]] = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
    ]
    general_names: list[x509.GeneralName] = [x509.DNSName(name) for name in names]
    general_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if general_names:
        extensions.append((x509.SubjectAlternativeName(general_names), san_critical))
    certificate = _build(
        subject=subject_name,
        issuer_name=issuer.certificate.subject if issuer else subject_name,
        public_key=key,
        signing_key=issuer.key if issuer else key,
        serial=serial if serial is not None else x509.random_serial_number(),
        not_before=not_before,
        not_after=not_after,
        extensions=extensions,
    )
    return Issued(certificate, key)


def make_fullchain(
    names: Sequence[str] = ("example.com",),
    *,
    leaf_not_after: datetime = DEFAULT_NOT_AFTER,
    intermediate_not_after: datetime = DEFAULT_NOT_BEFORE + timedelta(days=1825),
) -> tuple[Issued, Issued, Issued]:
    """(leaf, intermediate, root): a typical served chain."""
    root = make_ca()
    intermediate = make_intermediate(root, not_after=intermediate_not_after)
    leaf = make_leaf(intermediate, names=names, not_after=leaf_not_after)
    return leaf, intermediate, root


def der_with_serial(certificate: x509.Certificate, signing_key: PrivateKey, serial: int) -> bytes:
    """`certificate` re-encoded with any serial, negative included, and re-signed.

    `cryptography` refuses to build a negative serial, yet such certificates are served.
    """
    children = _der_children(certificate.tbs_certificate_bytes)
    # TBSCertificate: [0] version, serialNumber, ... (version is explicit and always present here)
    children[1] = _der_tlv(0x02, serial.to_bytes(_signed_length(serial), "big", signed=True))
    return _assemble(certificate, signing_key, _der_tlv(0x30, b"".join(children)))


def der_with_validity(
    certificate: x509.Certificate, signing_key: PrivateKey, not_before: str, not_after: str
) -> bytes:
    """`certificate` with any GeneralizedTime validity (`YYYYMMDDHHMMSSZ`), and re-signed.

    `cryptography` refuses dates before 1950, yet RFC 5280 (section 4.1.2.5.2) encodes any year
    from 0001 to 9999 as a GeneralizedTime, and OpenSSL reads them.
    """
    children = _der_children(certificate.tbs_certificate_bytes)
    # TBSCertificate: version, serialNumber, signature, issuer, validity, ...
    times = [_der_tlv(0x18, text.encode("ascii")) for text in (not_before, not_after)]
    children[4] = _der_tlv(0x30, b"".join(times))
    return _assemble(certificate, signing_key, _der_tlv(0x30, b"".join(children)))


def der_with_duplicate_extension(
    certificate: x509.Certificate,
    signing_key: PrivateKey,
    oid: x509.ObjectIdentifier = ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
) -> bytes:
    """`certificate` with the extension `oid` present twice: malformed, but servable."""
    children = _der_children(certificate.tbs_certificate_bytes)
    wrapper = children[-1]  # [3] EXPLICIT Extensions, the last TBS field
    extensions = _der_children(_der_content(wrapper))
    wanted = _der_tlv(0x06, _oid_content(oid))
    duplicated = [ext for ext in extensions if wanted in ext][:1]
    if not duplicated:
        raise ValueError(f"certificate has no extension {oid.dotted_string}")
    new_extensions = _der_tlv(0x30, b"".join(extensions + duplicated))
    children[-1] = _der_tlv(0xA3, new_extensions)
    return _assemble(certificate, signing_key, _der_tlv(0x30, b"".join(children)))


def write_pem(
    path: Path,
    *certificates: x509.Certificate | Issued | bytes,
    key: PrivateKey | None = None,
    separator: bytes = b"",
) -> Path:
    """Concatenated PEM blocks, an unencrypted key first when given; bytes items are DER."""
    blocks = [key_pem(key)] if key is not None else []
    blocks += [pem_of(item) for item in certificates]
    path.write_bytes(separator.join(blocks))
    return path


def pem_of(item: x509.Certificate | Issued | bytes) -> bytes:
    """One PEM CERTIFICATE block; bytes are DER, possibly of a certificate the builder refuses."""
    if isinstance(item, Issued):
        return item.pem
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    body = base64.encodebytes(item)  # 76-column lines, like OpenSSL's 64: both are valid PEM
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def write_der(path: Path, certificate: x509.Certificate | Issued) -> Path:
    """A single DER certificate."""
    cert = certificate.certificate if isinstance(certificate, Issued) else certificate
    path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return path


def write_pkcs12(
    path: Path,
    leaf: Issued,
    extra: Sequence[x509.Certificate | Issued] = (),
    *,
    password: bytes | None = None,
    friendly_name: bytes | None = b"test",
) -> Path:
    """PKCS#12 of `leaf`, its key and `extra` certificates; encrypted when given a password."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    cas = [item.certificate if isinstance(item, Issued) else item for item in extra]
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            friendly_name, leaf.key, leaf.certificate, cas, encryption
        )
    )
    return path


# --- building -------------------------------------------------------------------------------


def _ca_extensions(
    key: PrivateKey, issuer_key: PrivateKey
) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (
            CA_KEY_USAGE,
            True,
        ),
        (x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False),
        (
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            False,
        ),
    ]


def _build(
    *,
    subject: x509.Name,
    issuer_name: x509.Name,
    public_key: PrivateKey,
    signing_key: PrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


# --- a little DER, for what the builder refuses to make ---------------------------------------


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _der_tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(content)) + content


def _der_header(data: bytes, offset: int) -> tuple[int, int]:
    """(content start, content length) of the TLV at `offset`."""
    first = data[offset + 1]
    if first < 0x80:
        return offset + 2, first
    count = first & 0x7F
    length = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
    return offset + 2 + count, length


def _der_content(tlv: bytes) -> bytes:
    start, length = _der_header(tlv, 0)
    return tlv[start : start + length]


def _der_children(tlv: bytes) -> list[bytes]:
    """The child TLVs of one constructed TLV."""
    content = _der_content(tlv)
    children: list[bytes] = []
    offset = 0
    while offset < len(content):
        start, length = _der_header(content, offset)
        children.append(content[offset : start + length])
        offset = start + length
    return children


def _signed_length(value: int) -> int:
    return max(1, (value + (value < 0)).bit_length() // 8 + 1)


def _oid_content(oid: x509.ObjectIdentifier) -> bytes:
    arcs = [int(arc) for arc in oid.dotted_string.split(".")]
    out = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def _assemble(certificate: x509.Certificate, signing_key: PrivateKey, tbs: bytes) -> bytes:
    outer = _der_children(certificate.public_bytes(serialization.Encoding.DER))
    algorithm = outer[1]
    if isinstance(signing_key, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding

        signature = signing_key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        signature = signing_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    bit_string = _der_tlv(0x03, b"\x00" + signature)
    return _der_tlv(0x30, tbs + algorithm + bit_string)
