"""The name rules the verdict borrows from OpenSSL, table by table, each row citing the source
line it follows (crypto/x509/v3_ncons.c, x_name.c, rsa_lib.c; the 3.0 branch)."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from ticketbridge.discovery.certrules import RSA_MIN_BITS, rsa_security_bits
from ticketbridge.discovery.issuers import canonical_name
from ticketbridge.discovery.nameconstraints import _DnsBases, _IpBases, _looks_like_host


@pytest.mark.parametrize(
    ("base", "name", "inside"),
    [
        # nc_dns(): an empty base matches everything.
        ("", "anything.test", True),
        # Equal, case-insensitively (ia5ncasecmp).
        ("example.com", "EXAMPLE.com", True),
        # Longer names must meet the base at a label boundary...
        ("example.com", "a.example.com", True),
        ("example.com", "aexample.com", False),
        # ...and a leading dot means subdomains only: the apex is shorter than the base.
        (".example.com", "example.com", False),
        (".example.com", "a.example.com", True),
        (".example.com", "a.b.example.com", True),
        ("example.com", "com", False),
        # Non-ASCII letters do not fold.
        ("bücher.test", "BÜCHER.test", False),
    ],
)
def test_dns_subtrees_match_as_nc_dns_does(base: str, name: str, inside: bool) -> None:
    assert _DnsBases([base]).match(name) is inside


@pytest.mark.parametrize(
    ("network", "address", "inside"),
    [
        ("127.0.0.0/8", "127.9.9.9", True),
        ("127.0.0.0/8", "128.0.0.1", False),
        # nc_ip(): addresses of another length never match, so an IPv6 address is outside.
        ("127.0.0.0/8", "::1", False),
        ("::/0", "::1", True),
        ("::1/128", "::2", False),
    ],
)
def test_ip_subtrees_match_under_their_mask(network: str, address: str, inside: bool) -> None:
    bases = _IpBases([ipaddress.ip_network(network)])
    assert bases.match(ipaddress.ip_address(address)) is inside


@pytest.mark.parametrize(
    ("common_name", "host_like"),
    [
        ("app.example.com", True),
        ("under_score.example", True),
        ("localhost", False),  # one label is not a DNS name here
        ("-lead.example", False),
        ("a..b", False),
        ("a.-b", False),
        ("a-.b", False),
        ("Example Corp", False),
        ("bücher.test", False),  # cn2dnsid() accepts ASCII letters only
    ],
)
def test_a_cn_is_checked_as_a_host_name_only_when_it_looks_like_one(
    common_name: str, host_like: bool
) -> None:
    assert _looks_like_host(common_name) is host_like


def _name(value: str, kind: _ASN1Type = _ASN1Type.UTF8String) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value, _type=kind)])


@pytest.mark.parametrize(
    ("left", "right", "same"),
    [
        # x509_name_canon(): case of ASCII letters, white space runs and ends, and the string
        # type (within ASN1_MASK_CANON) do not matter...
        (_name("Corp Root"), _name("CORP ROOT"), True),
        (_name("Corp Root"), _name("  Corp \t  Root "), True),
        (_name("Corp Root"), _name("Corp Root", _ASN1Type.PrintableString), True),
        (_name("Corp Root"), _name("Corp Root", _ASN1Type.BMPString), True),
        # ...but letters that are not ASCII are compared as they are, and other characters too.
        (_name("ÉCOLE"), _name("école"), False),
        (_name("Corp Root"), _name("Corp-Root"), False),
    ],
)
def test_names_compare_in_openssls_canonical_form(
    left: x509.Name, right: x509.Name, same: bool
) -> None:
    assert (canonical_name(left) == canonical_name(right)) is same


@pytest.mark.parametrize(
    ("size", "bits"),
    [
        # ossl_ifc_ffc_compute_security_bits(): SP 800-56B's table for the common sizes...
        (2048, 112),
        (3072, 128),
        (4096, 152),
        (8192, 200),
        # ...and the formula, rounded to a multiple of 8, elsewhere.
        (1024, 80),
        (1536, 96),
        (RSA_MIN_BITS - 1, 104),
        (RSA_MIN_BITS, 112),
    ],
)
def test_rsa_security_bits_follow_openssl(size: int, bits: int) -> None:
    assert rsa_security_bits(size) == bits
