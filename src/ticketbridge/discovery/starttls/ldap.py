"""STARTTLS for LDAP: the StartTLS extended operation (RFC 4511), in the BER it needs."""

from __future__ import annotations

from ticketbridge.discovery.starttls.common import (
    StartTLSRefused,
    quote,
)
from ticketbridge.discovery.stream import PlainStream, ProtocolViolation

# --- LDAP --------------------------------------------------------------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
LDAP_MESSAGE_ID = 1
LDAP_MESSAGE_LIMIT = 16384

BER_SEQUENCE = 0x30
BER_INTEGER = 0x02
BER_ENUMERATED = 0x0A
BER_OCTET_STRING = 0x04
LDAP_EXTENDED_REQUEST = 0x77  # [APPLICATION 23] constructed
LDAP_EXTENDED_RESPONSE = 0x78  # [APPLICATION 24] constructed
LDAP_REQUEST_NAME = 0x80  # [0] primitive

LDAP_RESULT_NAMES = {
    1: "operationsError",
    2: "protocolError",
    3: "timeLimitExceeded",
    7: "authMethodNotSupported",
    8: "strongerAuthRequired",
    12: "unavailableCriticalExtension",
    51: "busy",
    52: "unavailable",
    53: "unwillingToPerform",
    80: "other",
}


def ber_tlv(tag: int, value: bytes) -> bytes:
    """A BER element with a definite length (RFC 4511 §5.1 forbids the indefinite form)."""
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    length = len(value).to_bytes((len(value).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + value


LDAP_STARTTLS_REQUEST = ber_tlv(
    BER_SEQUENCE,
    ber_tlv(BER_INTEGER, bytes([LDAP_MESSAGE_ID]))
    + ber_tlv(LDAP_EXTENDED_REQUEST, ber_tlv(LDAP_REQUEST_NAME, LDAP_STARTTLS_OID)),
)


class BerReader:
    """Reads definite-length, low-tag-number BER elements out of one received message."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def element(self, expected_tag: int) -> bytes:
        """The value of the next element, which must carry `expected_tag`."""
        if self._offset + 2 > len(self._data):
            raise ProtocolViolation("LDAP response truncated")
        tag = self._data[self._offset]
        if tag != expected_tag:
            raise ProtocolViolation(
                f"LDAP response has tag 0x{tag:02x} where 0x{expected_tag:02x} belongs"
            )
        length, header = ber_length(self._data[self._offset + 1 : self._offset + 6])
        start = self._offset + 1 + header
        if start + length > len(self._data):
            raise ProtocolViolation("LDAP response element overruns the message")
        self._offset = start + length
        return self._data[start : self._offset]

    def integer(self, expected_tag: int) -> int:
        value = self.element(expected_tag)
        if not 1 <= len(value) <= 4:
            raise ProtocolViolation(f"LDAP integer of {len(value)} bytes")
        return int.from_bytes(value, "big", signed=True)


def ber_length(octets: bytes) -> tuple[int, int]:
    """(length, octets used) of the BER length starting `octets`; at most 4 length bytes."""
    if not octets:
        raise ProtocolViolation("LDAP response truncated")
    first = octets[0]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    if count == 0:
        raise ProtocolViolation("LDAP response uses an indefinite length")
    if count > 4 or len(octets) < 1 + count:
        raise ProtocolViolation("LDAP response length is malformed")
    return int.from_bytes(octets[1 : 1 + count], "big"), 1 + count


async def read_ldap_message(stream: PlainStream) -> bytes:
    """One whole LDAPMessage SEQUENCE's contents, refusing anything over the size limit."""
    tag = await stream.read_exactly(1)
    if tag[0] != BER_SEQUENCE:
        raise ProtocolViolation(f"LDAP server sent {quote(tag)} where an LDAPMessage belongs")
    first = await stream.read_exactly(1)
    extra = first[0] & 0x7F if first[0] >= 0x80 else 0
    length, _ = ber_length(first + await stream.read_exactly(extra))
    if length > LDAP_MESSAGE_LIMIT:
        raise ProtocolViolation(f"LDAP response of {length} bytes")
    return await stream.read_exactly(length)


async def ldap_dialogue(stream: PlainStream, server_name: str) -> None:
    """RFC 4511 §4.14: StartTLS ExtendedRequest; resultCode 0 in the ExtendedResponse to proceed."""
    await stream.send(LDAP_STARTTLS_REQUEST)
    message = BerReader(await read_ldap_message(stream))
    message_id = message.integer(BER_INTEGER)
    # messageID 0 is an unsolicited notification: the Notice of Disconnection (§4.4.1).
    if message_id not in (0, LDAP_MESSAGE_ID):
        raise ProtocolViolation(f"LDAP response to messageID {message_id}, not {LDAP_MESSAGE_ID}")
    response = BerReader(message.element(LDAP_EXTENDED_RESPONSE))
    result_code = response.integer(BER_ENUMERATED)
    response.element(BER_OCTET_STRING)  # matchedDN
    diagnostic = response.element(BER_OCTET_STRING)
    if message_id == LDAP_MESSAGE_ID and result_code == 0:
        return
    name = LDAP_RESULT_NAMES.get(result_code, "unknown")
    what = "disconnected" if message_id == 0 else "refused StartTLS"
    raise StartTLSRefused(
        f"LDAP server {what}: resultCode {result_code} ({name}) {quote(diagnostic)}".rstrip()
    )
