"""A certificate whose CN is a BIT STRING still yields its facts (issue 15: it raised TypeError
in `cryptography`'s Name and was reported as a handshake error; OpenSSL reads it)."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding

from support.certs import make_ca
from ticketbridge.core.x509facts import UNREADABLE_NAME, facts_from_der

CN = b"Z" * 18
# DER: commonName's value as a UTF8String (tag 0x0c, 18 bytes), rewritten as a BIT STRING of
# the same length (tag 0x03, no unused bits, 17 bytes). The signature breaks; facts don't care.
UTF8_CN = b"\x0c\x12" + CN
BIT_STRING_CN = b"\x03\x12\x00" + CN[:17]


def test_a_bit_string_common_name_reads_as_unreadable_and_the_rest_still_counts() -> None:
    root = make_ca(CN.decode())
    der = root.certificate.public_bytes(Encoding.DER)
    assert der.count(UTF8_CN) == 2  # subject and issuer
    hostile = der.replace(UTF8_CN, BIT_STRING_CN)

    facts = facts_from_der(hostile)

    assert facts.subject == UNREADABLE_NAME
    assert facts.issuer == UNREADABLE_NAME
    assert facts.common_name is None
    assert facts.self_signed is False
    assert facts.not_after == root.certificate.not_valid_after_utc
    assert facts.is_ca is True
