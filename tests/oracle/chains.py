"""Certificate chains in the shapes real PKIs make, described as data so hypothesis can vary them.

Keys: RSA keys come pre-generated from tests/data/oracle-keys (RSA-8192 takes seconds to make,
and RSA-512 is refused by `cryptography`'s generator); EC and Ed25519 keys are made on demand.
SHA-1 and MD5 signatures, which `cryptography` no longer makes, are made by signing the TBS bytes
ourselves (RFC 5280 §4.1: Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm,
signatureValue }, and the TBS repeats the algorithm as its third field).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEYS_DIR = Path(__file__).resolve().parent.parent / "data" / "oracle-keys"
RSA_SIZES = (512, 1024, 2048, 3072, 4096, 8192)
KEY_KINDS = (*(f"rsa-{size}" for size in RSA_SIZES), "p256", "p384", "p521", "ed25519")
DIGESTS = ("sha256", "sha384", "sha512", "sha224", "sha1", "md5")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def _rsa_key(size: int, slot: int) -> rsa.RSAPrivateKey:
    available = sorted(KEYS_DIR.glob(f"rsa-{size}-*.pem"))
    # The keys are ours and sound: skipping OpenSSL's RSA consistency check saves a second each.
    key = serialization.load_pem_private_key(
        available[slot % len(available)].read_bytes(),
        password=None,
        unsafe_skip_rsa_key_validation=True,
    )
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@functools.cache
def _other_key(kind: str, slot: int) -> PrivateKey:
    del slot  # one cache entry per slot: distinct keys for distinct certificates
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    curve = {"p256": ec.SECP256R1(), "p384": ec.SECP384R1(), "p521": ec.SECP521R1()}[kind]
    return ec.generate_private_key(curve)


def private_key(kind: str, slot: int) -> PrivateKey:
    if kind.startswith("rsa-"):
        return _rsa_key(int(kind.removeprefix("rsa-")), slot)
    return _other_key(kind, slot)


@dataclass(frozen=True)
class CertSpec:
    """One certificate's shape. `digest` is how its issuer signs it (ignored for Ed25519)."""

    key: str = "p256"
    digest: str = "sha256"
    basic_constraints: str = "ca-critical"  # absent | ca | ca-critical | not-ca | not-ca-critical
    path_length: int | None = None
    key_usage: str = "ca"  # absent | ca | ca-no-certsign | tls | tls-no-signature
    key_usage_critical: bool = True
    eku: str = "absent"  # absent | server | client | any | server-client
    ski: bool = True
    aki: bool = True
    validity: str = "valid"  # valid | expired | future | ends-now | starts-now
    unknown_critical: bool = False


@dataclass(frozen=True)
class ChainSpec:
    root: CertSpec
    intermediates: tuple[CertSpec, ...]
    leaf: CertSpec
    san: str = "exact"  # exact | wildcard | wildcard-deep | mismatch | cn-only | ip
    host_form: str = "plain"  # plain | upper | trailing-dot
    serve_root: bool = False
    order: str = "in-order"  # in-order | reversed
    drop_intermediate: bool = False
    root_trusted: bool = True
    # Which CAs the client trusts besides (or instead of) the root: none, the intermediate
    # nearest the root too, or that intermediate alone (OpenSSL needs a self-signed anchor).
    extra_anchor: str = "none"  # none | intermediate-too | intermediate-only
    serve_unrelated: bool = False  # a stray certificate in the served chain
    tag: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BuiltChain:
    spec: ChainSpec
    served: tuple[x509.Certificate, ...]
    anchors: tuple[x509.Certificate, ...]
    host: str
    now: datetime


def _validity(kind: str, now: datetime) -> tuple[datetime, datetime]:
    day = timedelta(days=1)
    return {
        "valid": (now - 30 * day, now + 90 * day),
        "expired": (now - 400 * day, now - day),
        "future": (now + day, now + 400 * day),
        "ends-now": (now - 30 * day, now),
        "starts-now": (now, now + 90 * day),
    }[kind]


_KEY_USAGES = {
    "ca": {"key_cert_sign": True, "crl_sign": True, "digital_signature": True},
    "ca-no-certsign": {"crl_sign": True, "digital_signature": True},
    "tls": {"digital_signature": True, "key_encipherment": True},
    "tls-no-signature": {"data_encipherment": True},
}
_EKUS = {
    "server": [ExtendedKeyUsageOID.SERVER_AUTH],
    "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
    "any": [ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE],
    "server-client": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
}


def _key_usage(kind: str) -> x509.KeyUsage:
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    bits.update(_KEY_USAGES[kind])
    return x509.KeyUsage(**bits)


def _extensions(
    builder: x509.CertificateBuilder, spec: CertSpec, key: PrivateKey, issuer_key: PrivateKey
) -> x509.CertificateBuilder:
    if spec.basic_constraints != "absent":
        is_ca = spec.basic_constraints.startswith("ca")
        builder = builder.add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=spec.path_length if is_ca else None),
            critical=spec.basic_constraints.endswith("critical"),
        )
    if spec.key_usage != "absent":
        builder = builder.add_extension(
            _key_usage(spec.key_usage), critical=spec.key_usage_critical
        )
    if spec.eku != "absent":
        builder = builder.add_extension(x509.ExtendedKeyUsage(_EKUS[spec.eku]), critical=False)
    if spec.ski:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
    if spec.aki:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if spec.unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
            critical=True,
        )
    return builder


def make_certificate(
    spec: CertSpec,
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    now: datetime,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    not_before, not_after = _validity(spec.validity, now)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    builder = _extensions(builder, spec, key, issuer_key)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return sign(builder, issuer_key, spec.digest)


def build(spec: ChainSpec, now: datetime) -> BuiltChain:
    """The chain as a server would send it, the trust anchors a client would hold, and the host."""
    prefix = f"oracle {spec.tag}"
    root_name = _name(f"{prefix} root")
    root_key = private_key(spec.root.key, 0)
    root = make_certificate(spec.root, root_name, root_key, root_name, root_key, now=now)
    issuer_name, issuer_key, cas = root_name, root_key, []
    for depth, intermediate in enumerate(spec.intermediates, start=1):
        name = _name(f"{prefix} intermediate {depth}")
        key = private_key(intermediate.key, depth)
        cas.append(make_certificate(intermediate, name, key, issuer_name, issuer_key, now=now))
        issuer_name, issuer_key = name, key
    zone = "zone.test"
    host = {
        "wildcard-deep": f"a.b.{zone}",
        "ip": "127.0.0.1",
        "idn": f"bücher.{zone}",
    }.get(spec.san, f"app.{zone}")
    leaf_key = private_key(spec.leaf.key, 7)
    leaf = make_certificate(
        spec.leaf,
        _name(host if spec.san == "cn-only" else f"{prefix} leaf"),
        leaf_key,
        issuer_name,
        issuer_key,
        now=now,
        names=_san(spec.san, zone),
    )
    intermediates = list(reversed(cas))  # nearest the leaf first
    if spec.drop_intermediate and intermediates:
        intermediates.pop(0)
    if spec.order == "reversed":
        intermediates.reverse()
    served = [leaf, *intermediates, *([root] if spec.serve_root else [])]
    if spec.serve_unrelated:
        served.insert(1, _stranger(now))
    anchors = [root] if spec.root_trusted else [_stranger(now)]
    if spec.extra_anchor != "none" and cas:
        anchors = [*([] if spec.extra_anchor == "intermediate-only" else anchors), cas[0]]
    return BuiltChain(spec, tuple(served), tuple(anchors), _host_form(host, spec.host_form), now)


def _san(shape: str, zone: str) -> list[x509.GeneralName] | None:
    import ipaddress

    shapes: dict[str, list[x509.GeneralName] | None] = {
        "exact": [x509.DNSName(f"app.{zone}"), x509.DNSName(f"www.{zone}")],
        "wildcard": [x509.DNSName(f"*.{zone}")],
        "wildcard-deep": [x509.DNSName(f"*.{zone}")],
        "mismatch": [x509.DNSName(f"other.{zone}")],
        "cn-only": None,
        "ip": [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        "idn": [x509.DNSName(f"xn--bcher-kva.{zone}")],
    }
    return shapes[shape]


def _host_form(host: str, form: str) -> str:
    if form == "upper" and not host[0].isdigit():
        return host.upper()
    if form == "trailing-dot" and not host[0].isdigit():
        return host + "."
    return host


@functools.cache
def _stranger(now: datetime) -> x509.Certificate:
    """A trust anchor that signed none of the chains."""
    key = private_key("p256", 99)
    name = _name("oracle unrelated root")
    return make_certificate(CertSpec(), name, key, name, key, now=now)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


# --- signing, including the digests `cryptography` refuses to sign with ---------------------

_RSA_OIDS = {
    "sha1": "1.2.840.113549.1.1.5",
    "md5": "1.2.840.113549.1.1.4",
}
_ECDSA_SHA1 = "1.2.840.10045.4.1"
_SIGNABLE: dict[str, hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512] = {
    "sha224": hashes.SHA224(),
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_HASHES: dict[str, hashes.HashAlgorithm] = {**_SIGNABLE, "sha1": hashes.SHA1(), "md5": hashes.MD5()}


def sign(builder: x509.CertificateBuilder, key: PrivateKey, digest: str) -> x509.Certificate:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return builder.sign(key, None)
    if isinstance(key, ec.EllipticCurvePrivateKey) and digest == "md5":
        digest = "sha1"  # there is no ECDSA-with-MD5
    if (
        isinstance(key, rsa.RSAPrivateKey)
        and key.key_size < 1024
        and digest in ("sha384", "sha512")
    ):
        digest = "sha256"  # PKCS #1 v1.5 cannot fit a SHA-384/512 DigestInfo in 512 bits
    if digest not in ("sha1", "md5"):
        return builder.sign(key, _SIGNABLE[digest])
    draft = builder.sign(key, hashes.SHA256())
    oid = _RSA_OIDS[digest] if isinstance(key, rsa.RSAPrivateKey) else _ECDSA_SHA1
    algorithm = _tlv(0x30, _oid(oid) + (b"\x05\x00" if isinstance(key, rsa.RSAPrivateKey) else b""))
    fields = _children(draft.tbs_certificate_bytes)
    fields[2] = algorithm  # [0] version, serialNumber, signature AlgorithmIdentifier, ...
    tbs = _tlv(0x30, b"".join(fields))
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), _HASHES[digest])
    else:
        signature = key.sign(tbs, ec.ECDSA(_HASHES[digest]))
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def _tlv(tag: int, value: bytes) -> bytes:
    size = len(value)
    if size < 0x80:
        return bytes([tag, size]) + value
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


def _children(der: bytes) -> list[bytes]:
    """The encoded elements inside one DER SEQUENCE."""
    body_start, body_end = _body(der, 0)
    children, position = [], body_start
    while position < body_end:
        _, end = _body(der, position)
        children.append(der[position:end])
        position = end
    return children


def _body(der: bytes, position: int) -> tuple[int, int]:
    first = der[position + 1]
    if first < 0x80:
        return position + 2, position + 2 + first
    count = first & 0x7F
    size = int.from_bytes(der[position + 2 : position + 2 + count], "big")
    start = position + 2 + count
    return start, start + size


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, body)
