"""Signing certificates with the digests `cryptography` refuses to sign with, and the few DER
helpers that needs.

SHA-1 and MD5 signatures are made by signing the TBS bytes ourselves (RFC 5280 §4.1:
Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }, and the TBS
repeats the algorithm as its third field). The same surgery writes names `cryptography` will not
build (a BIT STRING common name) into a TBS before it is signed.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


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


def sign(
    builder: x509.CertificateBuilder,
    key: PrivateKey,
    digest: str,
    *,
    subject_der: bytes | None = None,
) -> x509.Certificate:
    """Sign `builder`'s certificate; `subject_der` replaces its subject Name with raw DER."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and digest == "md5":
        digest = "sha1"  # there is no ECDSA-with-MD5
    if (
        isinstance(key, rsa.RSAPrivateKey)
        and key.key_size < 1024
        and digest in ("sha384", "sha512")
    ):
        digest = "sha256"  # PKCS #1 v1.5 cannot fit a SHA-384/512 DigestInfo in 512 bits
    if isinstance(key, ed25519.Ed25519PrivateKey):
        digest = "none"
    if digest not in ("sha1", "md5") and subject_der is None:
        return builder.sign(key, None if digest == "none" else _SIGNABLE[digest])
    draft = builder.sign(key, None if digest == "none" else _SIGNABLE.get(digest, hashes.SHA256()))
    fields = _children(draft.tbs_certificate_bytes)
    algorithm = fields[2]  # [0] version, serialNumber, signature AlgorithmIdentifier, ...
    if digest in ("sha1", "md5"):
        oid = _RSA_OIDS[digest] if isinstance(key, rsa.RSAPrivateKey) else _ECDSA_SHA1
        rsa_null = b"\x05\x00" if isinstance(key, rsa.RSAPrivateKey) else b""
        algorithm = _tlv(0x30, _oid(oid) + rsa_null)
        fields[2] = algorithm
    if subject_der is not None:
        fields[5] = subject_der  # ..., issuer, validity, subject
    tbs = _tlv(0x30, b"".join(fields))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(tbs)
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(tbs, padding.PKCS1v15(), _HASHES[digest])
    else:
        signature = key.sign(tbs, ec.ECDSA(_HASHES[digest]))
    der = _tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)


def bit_string_common_name(text: bytes) -> bytes:
    """A Name whose only attribute is a commonName encoded as a BIT STRING (X.520 says
    DirectoryString; real certificates with this shape exist)."""
    cn = _tlv(0x30, _oid("2.5.4.3") + _tlv(0x03, b"\x00" + text))
    return _tlv(0x30, _tlv(0x31, cn))


def bit_string(first_byte: int) -> bytes:
    """A one-byte DER BIT STRING (nsCertType's encoding): trailing zero bits are unused."""
    unused = (first_byte & -first_byte).bit_length() - 1 if first_byte else 0
    return _tlv(0x03, bytes([unused, first_byte]) if first_byte else b"\x00")


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
