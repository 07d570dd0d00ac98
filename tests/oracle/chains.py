"""Certificate chains in the shapes real PKIs make, described as data so hypothesis can vary them.

Keys: RSA keys come pre-generated from tests/data/oracle-keys (RSA-8192 takes seconds to make,
and RSA-512 is refused by `cryptography`'s generator); EC and Ed25519 keys are made on demand.
Weak digests are signed by `oracle.der`. Besides the usual shapes: name constraints (DNS with
and without a leading dot, IP, directoryName; critical or not; on the root or intermediates),
cross-signed roots, chains past the 8-certificate cap, AKIs naming issuer and serial, issuer
names spelt differently (case, spacing, string type), same-name issuers with other keys,
nsCertType, IPv6 SANs, pinned leaves, and served bundles in several orders.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from oracle.der import PrivateKey, bit_string, sign

KEYS_DIR = Path(__file__).resolve().parent.parent / "data" / "oracle-keys"
RSA_SIZES = (512, 1024, 2048, 3072, 4096, 8192)
KEY_KINDS = (*(f"rsa-{size}" for size in RSA_SIZES), "p256", "p384", "p521", "ed25519")
DIGESTS = ("sha256", "sha384", "sha512", "sha224", "sha1", "md5")
ZONE = "zone.test"
ORG = "Oracle Org"
NS_CERT_TYPE = x509.ObjectIdentifier("2.16.840.1.113730.1.1")


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
    # What the AKI names: keyid | keyid-issuer-serial | issuer-serial | wrong-serial
    aki_form: str = "keyid"
    validity: str = "valid"  # valid | expired | future | ends-now | starts-now
    unknown_critical: bool = False
    name_constraints: str = "none"  # a key of NAME_CONSTRAINTS
    name_constraints_critical: bool = True
    ns_cert_type: str = "absent"  # absent | server | client | server-client | ssl-ca | smime-ca


@dataclass(frozen=True)
class ChainSpec:
    root: CertSpec
    intermediates: tuple[CertSpec, ...]
    leaf: CertSpec
    # exact | apex | wildcard | wildcard-deep | partial-wildcard | mismatch | cn-only | ip | ip6
    # | ip-both | idn
    san: str = "exact"
    host_form: str = "plain"  # plain | upper | trailing-dot
    serve_root: bool = False
    order: str = "in-order"  # in-order | reversed | rotated | root-first
    drop_intermediate: bool = False
    root_trusted: bool = True
    # Which CAs the client trusts besides (or instead of) the root: none, the intermediate
    # nearest the root too, or that intermediate alone (OpenSSL needs a self-signed anchor);
    # the leaf itself too, or alone (a pinned CA-issued leaf: OpenSSL needs -partial_chain).
    extra_anchor: str = "none"  # none | intermediate-too | intermediate-only | leaf-too | leaf-only
    serve_unrelated: bool = False  # a stray certificate in the served chain
    names_org: bool = False  # subjects are O=Oracle Org, CN=… (directoryName constraints bite)
    issuer_spelling: str = "same"  # how the leaf spells its issuer: same | case | spacing | type
    # A served certificate named like the leaf's issuer, ahead of it: none | other-key |
    # other-key-type | expired-twin
    decoy: str = "none"
    # The root cross-signed by an older root, the cross-sign served last: none | root-trusted |
    # old-root-trusted | both-trusted | expired-cross
    cross: str = "none"
    tag: int = field(default=0, compare=False)


@dataclass(frozen=True)
class BuiltChain:
    spec: ChainSpec
    served: tuple[x509.Certificate, ...]
    anchors: tuple[x509.Certificate, ...]
    host: str
    now: datetime


def _dns(*names: str) -> list[x509.GeneralName]:
    return [x509.DNSName(n) for n in names]


def _ips(*networks: str) -> list[x509.GeneralName]:
    return [x509.IPAddress(ipaddress.ip_network(n)) for n in networks]


def _org(org: str) -> list[x509.GeneralName]:
    return [x509.DirectoryName(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]))]


# (permitted, excluded) subtrees, around the leaf's names app.zone.test, zone.test, 127.0.0.1, ::1
NAME_CONSTRAINTS: dict[str, tuple[list[x509.GeneralName], list[x509.GeneralName]]] = {
    "dns-permit": (_dns(ZONE), []),
    "dns-permit-dot": (_dns(f".{ZONE}"), []),  # subdomains only: zone.test itself is outside
    "dns-permit-other": (_dns("other.test"), []),
    "dns-exclude-host": ([], _dns(f"app.{ZONE}")),
    "dns-exclude-dot": ([], _dns(f".{ZONE}")),
    "dns-exclude-apex": ([], _dns(ZONE)),
    "ip-permit": (_ips("127.0.0.0/8"), []),  # an IPv6 address is outside an IPv4-only permit
    "ip-permit-v6": (_ips("::1/128"), []),
    "ip-exclude": ([], _ips("127.0.0.0/24")),
    "dir-permit": (_org(ORG), []),
    "dir-permit-other": (_org("Other Org"), []),
    "dir-exclude": ([], _org(ORG)),
    "mixed": (_dns(ZONE) + _ips("127.0.0.0/8", "::/0"), _dns(f"www.{ZONE}")),
}
_NS_CERT_TYPES = {
    "server": 0x40,
    "client": 0x80,
    "server-client": 0xC0,
    "ssl-ca": 0x04,
    "smime-ca": 0x02,
}


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
    builder: x509.CertificateBuilder,
    spec: CertSpec,
    key: PrivateKey,
    issuer_key: PrivateKey,
    authority: tuple[x509.Name, int] | None,
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
        builder = builder.add_extension(_aki(spec.aki_form, issuer_key, authority), critical=False)
    if spec.unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"),
            critical=True,
        )
    if spec.name_constraints != "none":
        permitted, excluded = NAME_CONSTRAINTS[spec.name_constraints]
        builder = builder.add_extension(
            x509.NameConstraints(permitted or None, excluded or None),
            critical=spec.name_constraints_critical,
        )
    if spec.ns_cert_type != "absent":
        value = bit_string(_NS_CERT_TYPES[spec.ns_cert_type])
        builder = builder.add_extension(
            x509.UnrecognizedExtension(NS_CERT_TYPE, value), critical=False
        )
    return builder


def _aki(
    form: str, issuer_key: PrivateKey, authority: tuple[x509.Name, int] | None
) -> x509.AuthorityKeyIdentifier:
    """RFC 5280 §4.2.1.1: a key identifier, and/or the issuer's issuer name and serial."""
    keyid = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())
    if form == "keyid" or authority is None:
        return keyid
    name, serial = authority
    if form == "wrong-serial":
        serial += 1
    return x509.AuthorityKeyIdentifier(
        None if form in ("issuer-serial", "wrong-serial") else keyid.key_identifier,
        [x509.DirectoryName(name)],
        serial,
    )


def make_certificate(
    spec: CertSpec,
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Name,
    issuer_key: PrivateKey,
    *,
    now: datetime,
    names: Sequence[x509.GeneralName] | None = None,
    serial: int | None = None,
    authority: tuple[x509.Name, int] | None = None,
    name_constraints: x509.NameConstraints | None = None,
    subject_der: bytes | None = None,
) -> x509.Certificate:
    """`authority`: the issuer certificate's own issuer name and serial, for AKI forms that
    name them; `subject_der` writes a subject `cryptography` will not build."""
    not_before, not_after = _validity(spec.validity, now)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    builder = _extensions(builder, spec, key, issuer_key, authority)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    return sign(builder, issuer_key, spec.digest, subject_der=subject_der)


@dataclass
class _Issuer:
    """What the next certificate down needs of its issuer."""

    name: x509.Name
    key: PrivateKey
    certificate: x509.Certificate

    @property
    def authority(self) -> tuple[x509.Name, int]:
        return self.certificate.issuer, self.certificate.serial_number


def build(spec: ChainSpec, now: datetime) -> BuiltChain:
    """The chain as a server would send it, the trust anchors a client would hold, and the host."""
    prefix = f"oracle {spec.tag}"
    root_name = subject_name(f"{prefix} root", spec.names_org)
    root_key = private_key(spec.root.key, 0)
    serial = x509.random_serial_number()
    root = make_certificate(
        spec.root, root_name, root_key, root_name, root_key, now=now, serial=serial,
        authority=(root_name, serial),
    )  # fmt: skip
    issuer, cas = _Issuer(root_name, root_key, root), []
    for depth, intermediate in enumerate(spec.intermediates, start=1):
        name = subject_name(f"{prefix} intermediate {depth}", spec.names_org)
        key = private_key(intermediate.key, depth)
        made = make_certificate(
            intermediate, name, key, issuer.name, issuer.key, now=now,
            authority=issuer.authority,
        )  # fmt: skip
        cas.append(made)
        issuer = _Issuer(name, key, made)
    host = {
        "wildcard-deep": f"a.b.{ZONE}",
        "ip": "127.0.0.1",
        "ip-both": "127.0.0.1",
        "ip6": "::1",
        "idn": f"bücher.{ZONE}",
    }.get(spec.san, f"app.{ZONE}")
    leaf = make_certificate(
        spec.leaf,
        subject_name(host if spec.san == "cn-only" else f"{prefix} leaf", spec.names_org),
        private_key(spec.leaf.key, 7),
        spelt(issuer.name, spec.issuer_spelling),
        issuer.key,
        now=now,
        names=_san(spec.san),
        authority=issuer.authority,
    )
    served = _served(spec, leaf, cas, _Issuer(root_name, root_key, root), issuer, now)
    anchors = _anchors(spec, root, cas, leaf, now)
    return BuiltChain(spec, tuple(served), tuple(anchors), _host_form(host, spec.host_form), now)


def _served(
    spec: ChainSpec,
    leaf: x509.Certificate,
    cas: list[x509.Certificate],
    root_issuer: _Issuer,
    issuer: _Issuer,
    now: datetime,
) -> list[x509.Certificate]:
    root = root_issuer.certificate
    intermediates = list(reversed(cas))  # nearest the leaf first
    if spec.drop_intermediate and intermediates:
        intermediates.pop(0)
    if spec.order == "reversed":
        intermediates.reverse()
    elif spec.order == "rotated" and intermediates:
        intermediates = intermediates[1:] + intermediates[:1]
    if spec.cross != "none":
        intermediates.append(_cross_sign(spec, root, now))
    tail = [root] if spec.serve_root or spec.order == "root-first" else []
    served = (
        [leaf, *tail, *intermediates]
        if spec.order == "root-first"
        else [leaf, *intermediates, *tail]
    )
    if spec.decoy != "none":
        served.insert(1, _decoy(spec, issuer, root_issuer, now))
    if spec.serve_unrelated:
        served.insert(1, _stranger(now))
    return served


def _anchors(
    spec: ChainSpec,
    root: x509.Certificate,
    cas: list[x509.Certificate],
    leaf: x509.Certificate,
    now: datetime,
) -> list[x509.Certificate]:
    anchors = [root] if spec.root_trusted else [_stranger(now)]
    if spec.cross == "old-root-trusted" or spec.cross == "expired-cross":
        anchors = [_old_root(spec, now)]
    elif spec.cross == "both-trusted":
        anchors = [*anchors, _old_root(spec, now)]
    if spec.extra_anchor in ("intermediate-too", "intermediate-only") and cas:
        anchors = [*([] if spec.extra_anchor == "intermediate-only" else anchors), cas[0]]
    elif spec.extra_anchor in ("leaf-too", "leaf-only"):
        anchors = [*([] if spec.extra_anchor == "leaf-only" else anchors), leaf]
    return anchors


def _old_root(spec: ChainSpec, now: datetime) -> x509.Certificate:
    key = private_key("p256", 60)
    name = subject_name(f"oracle {spec.tag} old root", spec.names_org)
    return make_certificate(CertSpec(), name, key, name, key, now=now)


def _cross_sign(spec: ChainSpec, root: x509.Certificate, now: datetime) -> x509.Certificate:
    """The root's name and key, issued by the old root (as ISRG Root X1 by DST Root CA X3)."""
    old = _old_root(spec, now)
    cross = CertSpec(validity="expired" if spec.cross == "expired-cross" else "valid")
    return make_certificate(
        cross, root.subject, private_key(spec.root.key, 0), old.subject,
        private_key("p256", 60), now=now,
    )  # fmt: skip


def _decoy(spec: ChainSpec, issuer: _Issuer, root: _Issuer, now: datetime) -> x509.Certificate:
    """A CA certificate named like the leaf's issuer and issued by the root: another key (of
    the same type, or of another type), or the issuer's own key on an expired copy."""
    if spec.decoy == "expired-twin":
        key = issuer.key
    elif spec.decoy == "other-key-type":
        key = private_key("p256" if isinstance(issuer.key, rsa.RSAPrivateKey) else "rsa-2048", 71)
    else:
        key = private_key("rsa-2048" if isinstance(issuer.key, rsa.RSAPrivateKey) else "p256", 71)
    validity = "expired" if spec.decoy == "expired-twin" else "valid"
    return make_certificate(
        CertSpec(validity=validity), issuer.name, key, root.name, root.key, now=now,
        authority=root.authority,
    )  # fmt: skip


def spelt(name: x509.Name, spelling: str) -> x509.Name:
    """The same name as OpenSSL compares names (x509_cmp.c X509_NAME_cmp on the canonical
    form), written another way: upper case, extra white space, or PrintableString."""
    if spelling == "same":
        return name
    attributes = []
    for attribute in name:
        value = str(attribute.value)
        if spelling == "case":
            attributes.append(x509.NameAttribute(attribute.oid, value.upper()))
        elif spelling == "spacing":
            attributes.append(
                x509.NameAttribute(attribute.oid, "  " + value.replace(" ", "   ") + " ")
            )
        else:
            attributes.append(
                x509.NameAttribute(attribute.oid, value, _type=_ASN1Type.PrintableString)
            )
    return x509.Name(attributes)


def _san(shape: str) -> list[x509.GeneralName] | None:
    loopback4 = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    loopback6 = x509.IPAddress(ipaddress.ip_address("::1"))
    shapes: dict[str, list[x509.GeneralName] | None] = {
        "exact": [x509.DNSName(f"app.{ZONE}"), x509.DNSName(f"www.{ZONE}")],
        "apex": [x509.DNSName(f"app.{ZONE}"), x509.DNSName(ZONE)],
        "wildcard": [x509.DNSName(f"*.{ZONE}")],
        "wildcard-deep": [x509.DNSName(f"*.{ZONE}")],
        "partial-wildcard": [x509.DNSName(f"a*.{ZONE}")],
        "mismatch": [x509.DNSName(f"other.{ZONE}")],
        "cn-only": None,
        "ip": [loopback4],
        "ip6": [loopback6],
        "ip-both": [loopback4, loopback6],
        "idn": [x509.DNSName(f"xn--bcher-kva.{ZONE}")],
    }
    return shapes[shape]


def _host_form(host: str, form: str) -> str:
    if form == "upper" and not host[0].isdigit() and ":" not in host:
        return host.upper()
    if form == "trailing-dot" and not host[0].isdigit() and ":" not in host:
        return host + "."
    return host


@functools.cache
def _stranger(now: datetime) -> x509.Certificate:
    """A trust anchor that signed none of the chains."""
    key = private_key("p256", 99)
    name = subject_name("oracle unrelated root")
    return make_certificate(CertSpec(), name, key, name, key, now=now)


def subject_name(common_name: str, org: bool = False) -> x509.Name:
    cn = x509.NameAttribute(NameOID.COMMON_NAME, common_name)
    if not org:
        return x509.Name([cn])
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORG), cn])
