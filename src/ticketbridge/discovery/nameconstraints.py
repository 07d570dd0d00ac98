"""Name constraints as OpenSSL 3 applies them to a built chain: DNS names (leading dot means
subdomains only), IP addresses, directory names on the subject, and the leaf's CN when it has
no DNS subjectAltName — with OpenSSL's bound on the work one certificate may cause.

Each rule cites the OpenSSL source it follows (crypto/x509/v3_ncons.c, x509_vfy.c
check_name_constraints(); the 3.0 branch). Constraints are indexed, so a check costs a few set
look-ups per name rather than one comparison per constraint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from ticketbridge.discovery.issuers import (
    CanonicalName,
    canonical_name,
    self_issued,
    subject_key,
)

# v3_ncons.c NAME_CHECK_MAX: more names x constraints than this is X509_V_ERR_UNSPECIFIED, a
# refusal, not a slow check (OpenSSL's guard against denial of service, CVE-2017-3735's era).
NAME_CHECK_MAX = 1 << 20

_IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Violation:
    """Certificate `subject` (a chain position) is outside what the CA at `constrainer` may
    issue for. `kind`: permitted | excluded | too-many; `name` says which name, and how."""

    constrainer: int
    subject: int
    kind: str
    name: str


def _ascii_lower(text: str) -> str:
    # v3_ncons.c ia5ncasecmp(): only ASCII letters fold.
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if c.isascii() else c for c in text)


class _DnsBases:
    """DNS subtrees of one kind, as a set of bases (lower-cased ASCII)."""

    def __init__(self, bases: list[str]) -> None:
        self.present = bool(bases)
        self.bases = {_ascii_lower(b) for b in bases}

    def match(self, name: str) -> bool:
        """v3_ncons.c nc_dns(): an empty base matches all; otherwise the name equals the base,
        or is longer and ends with it where the base starts with a dot or the name has a dot
        just before it. So `.example.com` covers subdomains only, `example.com` both."""
        if "" in self.bases:
            return True
        name = _ascii_lower(name)
        if name in self.bases:
            return True
        for position, char in enumerate(name):
            if char == "." and (
                name[position:] in self.bases or name[position + 1 :] in self.bases
            ):
                return True
        return False


class _IpBases:
    """IP subtrees of one kind, indexed by (address length, prefix length)."""

    def __init__(self, networks: list[_IpNetwork]) -> None:
        self.present = bool(networks)
        self.by_prefix: dict[tuple[int, int], set[int]] = {}
        for network in networks:
            key = (network.max_prefixlen, network.prefixlen)
            self.by_prefix.setdefault(key, set()).add(int(network.network_address))

    def match(self, address: _IpAddress) -> bool:
        """v3_ncons.c nc_ip(): same address length, and equal under the subtree's mask."""
        value = int(address)
        for (bits, prefix), bases in self.by_prefix.items():
            if bits == address.max_prefixlen:
                shift = bits - prefix
                if (value >> shift) << shift in bases:
                    return True
        return False


class _DirBases:
    """directoryName subtrees of one kind, as canonical RDN sequences."""

    def __init__(self, names: list[x509.Name]) -> None:
        self.present = bool(names)
        self.bases = {canonical_name(n) for n in names}

    def match(self, name: CanonicalName) -> bool:
        """v3_ncons.c nc_dn(): the base's canonical encoding is a prefix of the name's."""
        return any(name[:size] in self.bases for size in range(len(name) + 1))


@dataclass(frozen=True, slots=True)
class _Subtrees:
    count: int
    dns: tuple[_DnsBases, _DnsBases]  # permitted, excluded
    ip: tuple[_IpBases, _IpBases]
    directory: tuple[_DirBases, _DirBases]

    @classmethod
    def of(cls, constraints: x509.NameConstraints) -> _Subtrees:
        permitted = list(constraints.permitted_subtrees or ())
        excluded = list(constraints.excluded_subtrees or ())

        def dns(subtrees: list[x509.GeneralName]) -> _DnsBases:
            return _DnsBases([s.value for s in subtrees if isinstance(s, x509.DNSName)])

        def ip(subtrees: list[x509.GeneralName]) -> _IpBases:
            return _IpBases(
                [
                    s.value
                    for s in subtrees
                    if isinstance(s, x509.IPAddress) and isinstance(s.value, _IpNetwork)
                ]
            )

        def directory(subtrees: list[x509.GeneralName]) -> _DirBases:
            return _DirBases([s.value for s in subtrees if isinstance(s, x509.DirectoryName)])

        return cls(
            len(permitted) + len(excluded),
            (dns(permitted), dns(excluded)),
            (ip(permitted), ip(excluded)),
            (directory(permitted), directory(excluded)),
        )


def _verdict(
    kinds: tuple[_DnsBases, _DnsBases] | tuple[_IpBases, _IpBases], value: object
) -> str | None:
    """v3_ncons.c nc_match(): when subtrees of the name's type are permitted, one must match;
    then none of the excluded ones may."""
    permitted, excluded = kinds
    if permitted.present and not permitted.match(value):  # type: ignore[arg-type]
        return "permitted"
    if excluded.present and excluded.match(value):  # type: ignore[arg-type]
        return "excluded"
    return None


def _directory_verdict(subtrees: _Subtrees, name: CanonicalName) -> str | None:
    permitted, excluded = subtrees.directory
    if permitted.present and not permitted.match(name):
        return "permitted"
    if excluded.present and excluded.match(name):
        return "excluded"
    return None


def _alt_names(certificate: x509.Certificate) -> list[x509.GeneralName]:
    try:
        return list(
            certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        )
    except (
        x509.ExtensionNotFound,
        ValueError,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        return []


def _constraints(certificate: x509.Certificate) -> x509.NameConstraints | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.NameConstraints).value
    except (
        x509.ExtensionNotFound,
        ValueError,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        return None


def host_like_common_names(certificate: x509.Certificate) -> list[str]:
    """v3_ncons.c cn2dnsid(): the subject CNs that look like host names — letters, digits, `_`,
    with inner `-` and `.`, no dot next to a dot or hyphen, and at least two labels."""
    found = []
    try:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except (ValueError, TypeError):
        return []  # v3_ncons.c: a CN that is no string is not a host name
    for attribute in attributes:
        value = attribute.value
        if not isinstance(value, str):
            continue
        value = value.rstrip("\0")  # trailing NULs are harmless; embedded ones are refused
        if value and _looks_like_host(value):
            found.append(value)
    return found


def _looks_like_host(value: str) -> bool:
    dotted = False
    last = len(value) - 1
    for position, char in enumerate(value):
        if char.isascii() and (char.isalnum() or char == "_"):
            continue
        if 0 < position < last and char == "-":
            continue
        if (
            0 < position < last
            and char == "."
            and value[position + 1] not in ".-"
            and value[position - 1] != "-"
        ):
            dotted = True
            continue
        return False
    return dotted


def _name_count(certificate: x509.Certificate, alt_names: list[x509.GeneralName]) -> int:
    return sum(len(rdn) for rdn in subject_key(certificate)) + len(alt_names)


def _check_one(
    certificate: x509.Certificate, is_leaf: bool, subtrees: _Subtrees
) -> tuple[str, str] | None:
    """v3_ncons.c NAME_CONSTRAINTS_check() (+ _check_CN for the leaf): (kind, name) or None."""
    alt_names = _alt_names(certificate)
    subject = subject_key(certificate)
    if subject:
        kind = _directory_verdict(subtrees, subject)
        if kind:
            return kind, f"subject {_shown(certificate)}"
    for general in alt_names:
        kind, shown = _alt_name_verdict(subtrees, general)
        if kind:
            return kind, shown
    if is_leaf and not any(isinstance(g, x509.DNSName) for g in alt_names):
        # x509_vfy.c check_name_constraints(): an EE certificate without DNS SANs has host-like
        # CNs checked against DNS constraints (clients may still match a host name on the CN).
        for common_name in host_like_common_names(certificate):
            kind = _verdict(subtrees.dns, common_name)
            if kind:
                return kind, f"{common_name} (its subject CN, checked because it has no DNS name)"
    return None


def _shown(certificate: x509.Certificate) -> str:
    try:
        return certificate.subject.rfc4514_string()
    except (ValueError, TypeError):
        return "(undecodable subject)"


def _alt_name_verdict(subtrees: _Subtrees, general: x509.GeneralName) -> tuple[str | None, str]:
    if isinstance(general, x509.DNSName):
        return _verdict(subtrees.dns, general.value), general.value
    if isinstance(general, x509.IPAddress) and isinstance(general.value, _IpAddress):
        return _verdict(subtrees.ip, general.value), str(general.value)
    if isinstance(general, x509.DirectoryName):
        return _directory_verdict(
            subtrees, canonical_name(general.value)
        ), general.value.rfc4514_string()
    return None, ""


def violation(chain: Sequence[x509.Certificate]) -> Violation | None:
    """x509_vfy.c check_name_constraints(): every certificate, from the top, against the
    constraints of each CA above it; self-issued CA certificates are skipped."""
    found: dict[int, x509.NameConstraints] = {}
    for position, certificate in enumerate(chain[1:], start=1):
        constraints = _constraints(certificate)
        if constraints is not None:
            found[position] = constraints
    if not found:
        return None
    compiled: dict[int, _Subtrees] = {}
    for subject in range(len(chain) - 1, -1, -1):
        certificate = chain[subject]
        if subject != 0 and self_issued(certificate):
            continue
        for constrainer in range(len(chain) - 1, subject, -1):
            constraints = found.get(constrainer)
            if constraints is None:
                continue
            # Counted before anything is compiled: over the limit costs nothing more.
            count = len(constraints.permitted_subtrees or ()) + len(
                constraints.excluded_subtrees or ()
            )
            names = _name_count(certificate, _alt_names(certificate))
            if names > 0 and count > NAME_CHECK_MAX // names:
                return Violation(
                    constrainer, subject, "too-many", f"{names} names against {count} constraints"
                )
            if constrainer not in compiled:
                compiled[constrainer] = _Subtrees.of(constraints)
            outside = _check_one(certificate, subject == 0, compiled[constrainer])
            if outside:
                return Violation(constrainer, subject, *outside)
    return None
