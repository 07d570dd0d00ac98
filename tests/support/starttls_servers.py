"""Loopback servers that speak each STARTTLS protocol's plaintext dialogue, then real TLS.

Each server runs in threads with blocking sockets, independent of the test's event loop, on
127.0.0.1 and a port the kernel picks. A handler (one per protocol, plus misbehaving variants)
plays the server's side of one connection through a `Peer`; `Peer.start_tls` wraps the socket
with a server `SSLContext` serving a `trustme` certificate. What each connection said and did is
recorded on a `Session` so tests can assert what the server saw.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType

import trustme

from ticketbridge.discovery.stream import PlainStream

# Long enough for any test, short enough that a stuck test fails instead of hanging.
IO_TIMEOUT = 5.0
READ_LIMIT = 65536


@dataclass
class TLSIdentity:
    """A throwaway CA and the server certificate it issued for the names tests connect to."""

    ca: trustme.CA
    leaf: trustme.LeafCert

    @classmethod
    def create(cls, *names: str) -> TLSIdentity:
        ca = trustme.CA()
        return cls(ca, ca.issue_cert(*names))

    @property
    def leaf_der(self) -> bytes:
        return ssl.PEM_cert_to_DER_cert(self.leaf.cert_chain_pems[0].bytes().decode("ascii"))

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context: a completed handshake proves the leaf and the name."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.ca.configure_trust(context)
        return context


@dataclass
class Session:
    """What the server side of one connection received and did."""

    received: list[bytes] = field(default_factory=list)
    sni: str | None = None
    tls_established: bool = False
    early_client_bytes: bytes = b""
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


class Peer:
    """The server's end of one connection: buffered blocking reads, writes, the TLS upgrade."""

    def __init__(self, sock: socket.socket, identity: TLSIdentity, session: Session) -> None:
        self.sock: socket.socket = sock
        self.identity = identity
        self.session = session
        self._buffer = bytearray()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        if len(self._buffer) > READ_LIMIT:
            raise ValueError("client sent more than any dialogue needs")
        data = self.sock.recv(16384)
        if not data:
            raise ConnectionError("client closed the connection")
        self._buffer += data

    def read_until(self, marker: bytes) -> bytes:
        while (found := self._buffer.find(marker)) < 0:
            self._fill()
        end = found + len(marker)
        data = bytes(self._buffer[:end])
        del self._buffer[:end]
        self.session.received.append(data)
        return data

    def readline(self) -> bytes:
        return self.read_until(b"\n")

    def read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._fill()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        self.session.received.append(data)
        return data

    def start_tls(self) -> None:
        """Run the server side of the handshake, then wait for the client to hang up."""
        # A client that pipelined bytes after its STARTTLS command would have them read as
        # plaintext here: recorded, and dropped as servers fixed after CVE-2011-0411 do.
        self.session.early_client_bytes = bytes(self._buffer)
        self._buffer.clear()
        context = self.identity.server_context()
        context.sni_callback = self._record_sni
        self.sock = context.wrap_socket(self.sock, server_side=True)
        self.session.tls_established = True
        self.hold()

    def _record_sni(self, _tls: object, server_name: str | None, _context: ssl.SSLContext) -> None:
        self.session.sni = server_name

    def hold(self) -> None:
        """Say nothing more; return once the client closes (or the I/O timeout passes)."""
        with suppress(OSError):
            while self.sock.recv(16384):
                pass


Handler = Callable[[Peer], None]


class StartTLSServer:
    """A threaded loopback server running `handler` for every connection; a context manager."""

    def __init__(self, handler: Handler, identity: TLSIdentity, host: str = "127.0.0.1") -> None:
        self.handler = handler
        self.identity = identity
        self.sessions: list[Session] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.05)
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._peers: list[Peer] = []
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    def __enter__(self) -> StartTLSServer:
        self._accepter.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._stopping.set()
        # Wakes a blocked accept() at once on Linux; the accept timeout covers other systems.
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._accepter.join(IO_TIMEOUT)
        self._listener.close()
        for peer in list(self._peers):
            # The base-class shutdown wakes a thread blocked in recv, TLS-wrapped or not.
            with suppress(OSError):
                socket.socket.shutdown(peer.sock, socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(IO_TIMEOUT)

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(IO_TIMEOUT)
            session = Session()
            self.sessions.append(session)
            thread = threading.Thread(target=self._serve, args=(connection, session), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, connection: socket.socket, session: Session) -> None:
        peer = Peer(connection, self.identity, session)
        self._peers.append(peer)
        try:
            self.handler(peer)
        except Exception as exc:  # a misbehaving client is data for the test, not a crash
            session.error = exc
        finally:
            peer.sock.close()
            session.done.set()

    def last_session(self) -> Session:
        """The most recent connection's session, once its handler has finished."""
        session = self.sessions[-1]
        session.done.wait(IO_TIMEOUT)
        return session


# --- SMTP (RFC 5321, RFC 3207) -----------------------------------------------------------------

SMTP_GREETING = b"220-mail.test ESMTP ticketbridge test server\r\n220 mail.test ready\r\n"
SMTP_EXTENSIONS = (
    b"PIPELINING",
    b"SIZE 10240000",
    b"STARTTLS",
    b"ENHANCEDSTATUSCODES",
    b"8BITMIME",
)
SMTP_READY = b"220 2.0.0 Ready to start TLS\r\n"


def multiline_reply(code: bytes, lines: list[bytes]) -> bytes:
    """`ddd-` on every line but the last, `ddd ` on the last (RFC 5321 §4.2.1)."""
    head = b"".join(code + b"-" + line + b"\r\n" for line in lines[:-1])
    return head + code + b" " + lines[-1] + b"\r\n"


def smtp(
    *,
    greeting: bytes = SMTP_GREETING,
    extensions: tuple[bytes, ...] = SMTP_EXTENSIONS,
    starttls_reply: bytes = SMTP_READY,
) -> Handler:
    def serve(peer: Peer) -> None:
        peer.send(greeting)
        in_service = greeting.startswith(b"220")
        greeted = False
        while True:
            verb = command_verb(peer.readline())
            if verb == b"QUIT":
                peer.send(b"221 2.0.0 Bye\r\n")
                return
            if not in_service:  # after a 554 greeting everything but QUIT gets 503 (§3.1)
                peer.send(b"503 5.5.1 No service\r\n")
            elif verb == b"EHLO":
                greeted = True
                peer.send(multiline_reply(b"250", [b"mail.test greets you", *extensions]))
            elif verb == b"HELO":
                greeted = True
                peer.send(b"250 mail.test\r\n")
            elif verb == b"NOOP":
                peer.send(b"250 2.0.0 OK\r\n")
            elif verb == b"STARTTLS" and b"STARTTLS" in {e.upper() for e in extensions}:
                if not greeted:
                    peer.send(b"503 5.5.1 EHLO first\r\n")
                    continue
                peer.send(starttls_reply)
                if starttls_reply.startswith(b"220"):
                    peer.start_tls()
                    return
            else:
                peer.send(b"502 5.5.2 Command not recognized\r\n")

    return serve


def command_verb(line: bytes) -> bytes:
    words = line.split(maxsplit=1)
    return words[0].upper() if words else b""


# --- IMAP (RFC 9051) ---------------------------------------------------------------------------

IMAP_GREETING = b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] mail.test ready\r\n"


def imap(
    *,
    greeting: bytes = IMAP_GREETING,
    untagged_before_reply: bytes = b"",
    starttls_reply: bytes = b"{tag} OK Begin TLS negotiation now\r\n",
) -> Handler:
    def serve(peer: Peer) -> None:
        peer.send(greeting)
        if greeting.startswith(b"* BYE"):
            return
        authenticated = greeting.startswith(b"* PREAUTH")
        while True:
            tag, _, command = peer.readline().rstrip(b"\r\n").partition(b" ")
            verb = command_verb(command)
            if verb == b"CAPABILITY":
                peer.send(b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n")
                peer.send(tag + b" OK CAPABILITY completed\r\n")
            elif verb == b"LOGOUT":
                peer.send(b"* BYE logging out\r\n" + tag + b" OK LOGOUT completed\r\n")
                return
            elif verb == b"STARTTLS" and authenticated:  # valid only before authentication
                peer.send(tag + b" BAD STARTTLS not allowed now\r\n")
            elif verb == b"STARTTLS":
                reply = starttls_reply.replace(b"{tag}", tag)
                peer.send(untagged_before_reply + reply)
                if reply.startswith(tag + b" OK"):
                    peer.start_tls()
                    return
            else:
                peer.send(tag + b" BAD unknown command\r\n")

    return serve


# --- POP3 (RFC 1939, RFC 2595) -----------------------------------------------------------------

POP3_GREETING = b"+OK POP3 mail.test ready <1896.697170952@mail.test>\r\n"


def pop3(*, greeting: bytes = POP3_GREETING, stls_reply: bytes = b"+OK Begin TLS\r\n") -> Handler:
    def serve(peer: Peer) -> None:
        peer.send(greeting)
        if not greeting.startswith(b"+OK"):
            return
        while True:
            verb = command_verb(peer.readline())
            if verb == b"CAPA":
                peer.send(b"+OK Capability list follows\r\nUSER\r\nSTLS\r\n.\r\n")
            elif verb == b"STLS":
                peer.send(stls_reply)
                if stls_reply.startswith(b"+OK"):
                    peer.start_tls()
                    return
            elif verb == b"QUIT":
                peer.send(b"+OK bye\r\n")
                return
            else:
                peer.send(b"-ERR unknown command\r\n")

    return serve


# --- FTP (RFC 959, RFC 4217) -------------------------------------------------------------------

# RFC 959 §4.2: only the last line of a multi-line reply must start with the code and a space.
FTP_GREETING = b"220-mail.test FTP server\r\n   terms of use apply\r\n220 ready\r\n"


def ftp(*, greeting: bytes = FTP_GREETING, auth_reply: bytes = b"234 AUTH TLS OK.\r\n") -> Handler:
    def serve(peer: Peer) -> None:
        peer.send(greeting)
        if not greeting.startswith((b"120", b"220")):
            return
        while True:
            line = peer.readline().rstrip(b"\r\n").upper()
            if line in (b"AUTH TLS", b"AUTH TLS-C"):
                peer.send(auth_reply)
                if auth_reply.startswith(b"234"):
                    peer.start_tls()
                    return
            elif line == b"FEAT":
                peer.send(b"211-Features:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n211 End\r\n")
            elif line == b"QUIT":
                peer.send(b"221 Goodbye.\r\n")
                return
            else:
                peer.send(b"500 Unknown command.\r\n")

    return serve


# --- PostgreSQL (protocol 3.0, SSLRequest) -----------------------------------------------------

POSTGRES_SSL_REQUEST = (8).to_bytes(4, "big") + (80877103).to_bytes(4, "big")


def postgres(*, answer: bytes = b"S") -> Handler:
    def serve(peer: Peer) -> None:
        request = peer.read_exactly(8)
        if request != POSTGRES_SSL_REQUEST:
            return
        peer.send(answer)
        if answer == b"S":
            peer.start_tls()
        else:
            peer.hold()  # a real server now waits for a plaintext StartupMessage

    return serve


# --- LDAP (RFC 4511 §4.14) ---------------------------------------------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
LDAP_NOTICE_OF_DISCONNECTION_OID = b"1.3.6.1.4.1.1466.20036"


def ber(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    length = len(value).to_bytes(4, "big").lstrip(b"\0")
    return bytes([tag, 0x80 | len(length)]) + length + value


def ber_elements(data: bytes) -> list[tuple[int, bytes]]:
    """The (tag, value) pairs of consecutive definite-length BER elements."""
    elements = []
    offset = 0
    while offset < len(data):
        tag, first = data[offset], data[offset + 1]
        offset += 2
        if first & 0x80:
            count = first & 0x7F
            length = int.from_bytes(data[offset : offset + count], "big")
            offset += count
        else:
            length = first
        elements.append((tag, data[offset : offset + length]))
        offset += length
    return elements


def read_ber_message(peer: Peer) -> bytes:
    header = peer.read_exactly(2)
    if header[1] & 0x80:
        length = int.from_bytes(peer.read_exactly(header[1] & 0x7F), "big")
    else:
        length = header[1]
    return peer.read_exactly(length)


def ldap_extended_response(
    message_id: bytes, result_code: int, diagnostic: bytes, response_name: bytes
) -> bytes:
    result = (
        ber(0x0A, bytes([result_code]))  # resultCode ENUMERATED
        + ber(0x04, b"")  # matchedDN
        + ber(0x04, diagnostic)  # diagnosticMessage
        + ber(0x8A, response_name)  # responseName [10]
    )
    return ber(0x30, ber(0x02, message_id) + ber(0x78, result))


def ldap(
    *, result_code: int = 0, diagnostic: bytes = b"", notice_of_disconnection: bool = False
) -> Handler:
    def serve(peer: Peer) -> None:
        message_id_element, operation = ber_elements(read_ber_message(peer))[:2]
        request_name = dict(ber_elements(operation[1]))
        if operation[0] != 0x77 or request_name.get(0x80) != LDAP_STARTTLS_OID:
            return
        if notice_of_disconnection:
            peer.send(
                ldap_extended_response(
                    b"\x00", 52, b"server shutting down", LDAP_NOTICE_OF_DISCONNECTION_OID
                )
            )
            return
        message_id = message_id_element[1]
        peer.send(ldap_extended_response(message_id, result_code, diagnostic, LDAP_STARTTLS_OID))
        if result_code == 0:
            peer.start_tls()
        else:
            peer.hold()

    return serve


# --- XMPP (RFC 6120 §5) ------------------------------------------------------------------------

XMPP_TLS_NS = b"urn:ietf:params:xml:ns:xmpp-tls"
XMPP_STARTTLS_FEATURE = b"<starttls xmlns='" + XMPP_TLS_NS + b"'><required/></starttls>"
XMPP_SASL_FEATURE = (
    b"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism>"
    b"</mechanisms>"
)
STREAM_TO = re.compile(rb"""\sto=(['"])(.*?)\1""")


def xmpp(
    *,
    features: bytes = XMPP_STARTTLS_FEATURE + XMPP_SASL_FEATURE,
    starttls_reply: bytes = b"<proceed xmlns='" + XMPP_TLS_NS + b"'/>",
) -> Handler:
    def serve(peer: Peer) -> None:
        peer.read_until(b"<stream:stream")
        attributes = peer.read_until(b">")
        to = STREAM_TO.search(attributes)
        server_name = to.group(2) if to else b"mail.test"
        # The header and the features in two writes, as servers send them.
        peer.send(
            b"<?xml version='1.0'?><stream:stream from='" + server_name + b"' id='c2s-4711'"
            b" version='1.0' xml:lang='en' xmlns='jabber:client'"
            b" xmlns:stream='http://etherx.jabber.org/streams'>"
        )
        peer.send(b"<stream:features>" + features + b"</stream:features>")
        request = peer.read_until(b">")
        if not request.lstrip().startswith(b"<starttls") or b"<starttls" not in features:
            peer.send(b"<stream:error><not-authorized/></stream:error></stream:stream>")
            return
        peer.send(starttls_reply)
        if starttls_reply.startswith(b"<proceed"):
            peer.start_tls()

    return serve


# --- Misbehaving servers -----------------------------------------------------------------------


def silent() -> Handler:
    """Accepts and never says a word: a tarpit."""
    return Peer.hold


def sends(data: bytes) -> Handler:
    """Sends `data` whatever the protocol, then waits for the client to give up."""

    def serve(peer: Peer) -> None:
        peer.send(data)
        peer.hold()

    return serve


def hangs_up() -> Handler:
    """Closes the connection without a word."""

    def serve(_peer: Peer) -> None:
        return

    return serve


# --- The client's side -------------------------------------------------------------------------


@asynccontextmanager
async def plain_stream(
    address: tuple[str, int], budget: int = 1 << 20
) -> AsyncIterator[PlainStream]:
    """A connected non-blocking socket wrapped in a PlainStream, as the probe builds it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, address)
        stream = PlainStream(sock, budget=budget)
        try:
            yield stream
        finally:
            stream.close()
    finally:
        sock.close()


def tls_handshake(sock: socket.socket, context: ssl.SSLContext, server_name: str) -> bytes:
    """A complete, verifying TLS handshake on `sock` as it stands; returns the leaf's DER.

    A standard blocking client, not our own MemoryBIO pump: it proves the socket was left exactly
    at the start of TLS. Run it in a thread; the socket is closed when it returns.
    """
    sock.setblocking(True)
    sock.settimeout(IO_TIMEOUT)
    with context.wrap_socket(sock, server_hostname=server_name) as tls:
        leaf = tls.getpeercert(binary_form=True)
    assert leaf is not None
    return leaf


async def finish_with_tls(stream: PlainStream, context: ssl.SSLContext, server_name: str) -> bytes:
    return await asyncio.to_thread(tls_handshake, stream.socket, context, server_name)
