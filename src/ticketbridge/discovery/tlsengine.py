"""The TLS client a probe drives through memory buffers: the OpenSSL that `cryptography` ships,
through pyOpenSSL.

Why not the standard library's `ssl`: Python's `ssl` is linked against the system's OpenSSL (3.0
on Debian 12), whose client handshake costs about half as much again as with the OpenSSL 4.0 that
`cryptography` bundles (bench/README.md, "Profile"); at tens of thousands of endpoints the
handshake is most of a scan's CPU. Nothing here verifies anything: the handshake completes with
any server, and the verdict is computed afterwards, from the served bytes, by our own checker.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from OpenSSL import SSL
from OpenSSL.crypto import FILETYPE_ASN1, dump_certificate

# A memory BIO read returns everything buffered up to this size; a shorter read emptied it, so
# no second read (and the exception pyOpenSSL raises for an empty buffer) is needed. A client's
# flights are a few hundred bytes to a few KiB; pyOpenSSL allocates the whole size for every
# read, and 128 KiB cost 9 us more per read than 16 KiB (measured), twice per handshake.
_OUTPUT_CHUNK = 1 << 14


class TlsError(Exception):
    """The handshake or the session failed; `reason` is OpenSSL's reason in its macro form
    (`WRONG_VERSION_NUMBER`), `detail` the whole error queue in words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class TlsClosed(Exception):
    """The peer ended the TLS session (close_notify, or the transport's end without one)."""


def _client_context() -> SSL.Context:
    """A context that completes handshakes with anything, so facts come back even from bad
    servers: every protocol version and cipher this OpenSSL has (security level 0), legacy
    renegotiation allowed, no verification (the verdict is computed separately).

    The groups offered are OpenSSL 3.0's defaults (`_CLASSIC_GROUPS`), as the standard library's
    client offered them on Debian 12: one key share, X25519, and a HelloRetryRequest for a server
    that wants another group. OpenSSL 4.0's own default adds a post-quantum hybrid key share
    (X25519MLKEM768), which protects the confidentiality of a session we send nothing secret
    over, and costs a 1.2 KiB larger ClientHello, a key generation per probe and 15 KiB per
    connection in flight (measured)."""
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)
    context.set_min_proto_version(0)  # 0: the lowest this OpenSSL supports
    context.set_cipher_list(b"ALL:@SECLEVEL=0")
    context.set_options(getattr(SSL, "OP_LEGACY_SERVER_CONNECT", 0))
    # As the standard library's `ssl` does: a connection waiting for the server holds no idle
    # 16 KiB read and write buffers (11 KiB less per connection in flight, measured).
    context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    _offer_classic_groups(context)
    _prefer_aes128_in_tls13(context)
    return context


# The TLS 1.3 suites in the order Firefox and Chrome offer them. OpenSSL's own order puts
# AES-256-GCM-SHA384 first, and a server that follows the client's preference (nginx's default)
# then runs the whole key schedule on SHA-384: about 6% more client CPU per handshake than
# SHA-256, measured against the bench's nginx. Every suite is still offered.
_TLS13_SUITES = b"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384"


def _prefer_aes128_in_tls13(context: SSL.Context) -> None:
    _set_list(context, "SSL_CTX_set_ciphersuites", _TLS13_SUITES, "the TLS 1.3 cipher suites")


_CLASSIC_GROUPS = b"X25519:P-256:X448:P-384:P-521:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192"


def _offer_classic_groups(context: SSL.Context) -> None:
    # SSL_CTX_set1_groups_list, bound by pyOpenSSL under its alias `..._curves_list`.
    _set_list(context, "SSL_CTX_set1_curves_list", _CLASSIC_GROUPS, "the classic group list")


def _set_list(context: SSL.Context, function: str, value: bytes, what: str) -> None:
    """Call an OpenSSL `SSL_CTX_set...` function that pyOpenSSL's bindings expose but its API
    does not wrap; should a later pyOpenSSL stop binding it, OpenSSL's own default stays."""
    from OpenSSL._util import lib as openssl

    setter = getattr(openssl, function, None)
    handle = getattr(context, "_context", None)
    if setter is None or handle is None:
        return
    if setter(handle, value) != 1:
        raise RuntimeError(f"OpenSSL refused {what}")


_CONTEXT: SSL.Context | None = None


def client_context() -> SSL.Context:
    global _CONTEXT
    if _CONTEXT is None:
        _CONTEXT = _client_context()
    return _CONTEXT


def _tls_error(exc: SSL.Error) -> TlsError:
    """OpenSSL's error queue, as pyOpenSSL hands it over: [(library, function, reason), ...]
    with reasons in words ("wrong version number"); the first entry is the cause."""
    if isinstance(exc, SSL.SysCallError):
        code = exc.args[0] if exc.args else -1
        if code in (-1, 0):
            return TlsError("UNEXPECTED_EOF_WHILE_READING", "unexpected eof while reading")
        return TlsError("SYSCALL", f"system call failed: {errno.errorcode.get(code, code)}")
    entries = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    reasons = [str(entry[2]) for entry in entries if isinstance(entry, tuple) and len(entry) == 3]
    if not reasons:
        text = " ".join(str(exc).split()) or type(exc).__name__
        return TlsError("", text)
    reason = reasons[0].upper().replace(" ", "_")
    return TlsError(reason, "; ".join(dict.fromkeys(reasons)))


@dataclass(slots=True)
class ClientTls:
    """One client session over memory buffers: the caller moves bytes between it and a socket."""

    connection: SSL.Connection

    @classmethod
    def start(cls, server_name: str | None) -> ClientTls:
        connection = SSL.Connection(client_context(), None)
        if server_name:
            # As the standard library's `server_hostname`: IDNA 2003 for the wire (RFC 6066).
            connection.set_tlsext_host_name(server_name.encode("idna"))
        connection.set_connect_state()
        return cls(connection)

    def handshake(self) -> bool:
        """Advance the handshake with what was fed; True once it is complete, False while it
        waits for the server's next bytes."""
        try:
            self.connection.do_handshake()
        except SSL.WantReadError:
            return False
        except SSL.Error as exc:
            raise _tls_error(exc) from None
        return True

    def feed(self, data: bytes) -> None:
        """Bytes received from the server."""
        self.connection.bio_write(data)

    def take_output(self) -> bytes:
        """Bytes to send to the server, b"" when there are none."""
        chunks: list[bytes] = []
        while True:
            try:
                chunk = self.connection.bio_read(_OUTPUT_CHUNK)
            except SSL.WantReadError:  # the buffer is empty
                return b"".join(chunks)
            chunks.append(chunk)
            if len(chunk) < _OUTPUT_CHUNK:  # a memory BIO hands over all it holds, up to the size
                return b"".join(chunks)

    def served_chain_der(self) -> list[bytes]:
        """The chain exactly as the server sent it, leaf first, as DER (SSL_get_peer_cert_chain:
        the list as received, which verification being off does not change)."""
        chain = self.connection.get_peer_cert_chain()
        # i2d_X509 straight from OpenSSL's objects: converting through `cryptography` first
        # cost 6% of a large scan's CPU.
        return [dump_certificate(FILETYPE_ASN1, certificate) for certificate in chain or []]

    def write(self, data: bytes) -> None:
        try:
            self.connection.sendall(data)
        except SSL.Error as exc:
            raise _tls_error(exc) from None

    def read(self, size: int) -> bytes | None:
        """Decrypted bytes, None while more must be fed; raises TlsClosed at the session's end."""
        try:
            return self.connection.recv(size)
        except SSL.WantReadError:
            return None
        except SSL.ZeroReturnError:
            raise TlsClosed from None
        except SSL.SysCallError as exc:
            if exc.args and exc.args[0] in (-1, 0):
                raise TlsClosed from None
            raise _tls_error(exc) from None
        except SSL.Error as exc:
            raise _tls_error(exc) from None
