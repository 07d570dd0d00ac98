"""Real TLS servers on loopback for the tests: SNI-selected chains, and hostile servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography.hazmat.primitives import serialization

from support.certs import Issued

# What a scripted server does with one accepted connection; `stop` is set when the test ends.
Behaviour = Callable[[socket.socket, threading.Event], None]


def chain_pem(chain: Sequence[Issued]) -> bytes:
    return b"".join(item.pem for item in chain)


@dataclass
class Served:
    """What the server presents: the chain (leaf first) and the leaf's key."""

    chain: Sequence[Issued]

    @property
    def key(self) -> bytes:
        return self.chain[0].key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _context(served: Served, directory: Path, label: str) -> ssl.SSLContext:
    cert_path = directory / f"{label}.pem"
    key_path = directory / f"{label}.key"
    cert_path.write_bytes(chain_pem(served.chain))
    key_path.write_bytes(served.key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


class _ThreadedServer:
    """Accept loop in a daemon thread; each connection handled in its own thread."""

    def __init__(self, address: str = "127.0.0.2", port: int = 0, backlog: int = 128) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((address, port))
        self.listener.listen(backlog)
        self.address = address
        self.port: int = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.connections = 0
        self.accepted_at: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()

    def handle(self, connection: socket.socket) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Self:
        thread = threading.Thread(target=self._accept_loop, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self._lock:
            for connection in list(self._open):
                with contextlib.suppress(OSError):
                    connection.close()
        for thread in self._threads:
            thread.join(timeout=2)

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted_at.append(time.monotonic())
                self.connections += 1
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self._open.add(connection)
            worker = threading.Thread(target=self._run, args=(connection,), daemon=True)
            worker.start()

    def _run(self, connection: socket.socket) -> None:
        try:
            connection.settimeout(10)
            self.handle(connection)
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self._lock:
                self.in_flight -= 1
                self._open.discard(connection)
            with contextlib.suppress(OSError):
                connection.close()


class TLSServer(_ThreadedServer):
    """Serves `default` unless the client's SNI names a key of `by_name` (exact, lower case)."""

    def __init__(
        self,
        default: Served,
        by_name: dict[str, Served] | None = None,
        address: str = "127.0.0.2",
        *,
        minimum_version: ssl.TLSVersion | None = None,
    ) -> None:
        super().__init__(address)
        self._directory = tempfile.TemporaryDirectory(prefix="tb-tls-")
        directory = Path(self._directory.name)
        self.default_context = _context(default, directory, "default")
        self.contexts = {
            name.lower(): _context(served, directory, f"sni{index}")
            for index, (name, served) in enumerate((by_name or {}).items())
        }
        for context in (self.default_context, *self.contexts.values()):
            if minimum_version is not None:
                context.minimum_version = minimum_version
        self.server_names_seen: list[str | None] = []
        self.default_context.sni_callback = self._select

    def _select(
        self, sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext
    ) -> None:
        with self._lock:
            self.server_names_seen.append(name)
        if name and name.lower() in self.contexts:
            sock.context = self.contexts[name.lower()]

    def handle(self, connection: socket.socket) -> None:
        with self.default_context.wrap_socket(connection, server_side=True) as tls:
            tls.settimeout(2)
            with contextlib.suppress(OSError, ssl.SSLError):
                tls.recv(1)

    def close(self) -> None:
        super().close()
        self._directory.cleanup()


class ScriptedServer(_ThreadedServer):
    """A plain TCP server whose per-connection behaviour is a function: for hostile peers."""

    def __init__(
        self,
        behaviour: Behaviour,
        address: str = "127.0.0.3",
    ) -> None:
        super().__init__(address)
        self._behaviour = behaviour

    def handle(self, connection: socket.socket) -> None:
        self._behaviour(connection, self._stop)


def tarpit(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, read whatever comes, never answer; notice when the client gives up."""
    connection.settimeout(0.05)
    while not stop.is_set():
        try:
            if not connection.recv(4096):
                return
        except TimeoutError:
            continue


def garbage(connection: socket.socket, stop: threading.Event) -> None:
    """Answer the ClientHello with megabytes of noise that is not TLS."""
    connection.recv(4096)
    chunk = bytes(range(256)) * 64
    for _ in range(128):
        if stop.is_set():
            return
        connection.sendall(chunk)


def endless_tls_records(connection: socket.socket, stop: threading.Event) -> None:
    """Well-formed TLS record headers carrying a never-ending handshake message."""
    connection.recv(4096)
    # A ServerHello-typed handshake message claiming 16 MiB, delivered in maximum-size records.
    connection.sendall(b"\x16\x03\x03\x40\x00" + b"\x02\xff\xff\xff" + b"\x00" * (0x4000 - 4))
    record = b"\x16\x03\x03\x40\x00" + b"\x00" * 0x4000
    for _ in range(256):
        if stop.is_set():
            return
        connection.sendall(record)


def reset(connection: socket.socket, stop: threading.Event) -> None:
    """Close with a TCP RST (SO_LINGER 0) as soon as the ClientHello arrives."""
    connection.recv(4096)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_at_once(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, then close cleanly without a word."""


def plain_http(connection: socket.socket, stop: threading.Event) -> None:
    """An HTTP server on the TLS port."""
    connection.recv(4096)
    connection.sendall(
        b"HTTP/1.1 400 Bad Request\r\nServer: nginx\r\nContent-Type: text/html\r\n"
        b"Content-Length: 48\r\nConnection: close\r\n\r\n"
        b"<html><body>plain HTTP on a TLS port</body></html>"
    )


def banner_then_silence(connection: socket.socket, stop: threading.Event) -> None:
    """Speak first, as an SMTP or FTP server on the TLS port would, then wait without closing:
    the client must read the banner that arrived with its connect."""
    connection.sendall(b"220 mail.example.com ESMTP ready\r\n")
    stop.wait(5)


def slow_drip(connection: socket.socket, stop: threading.Event) -> None:
    """One byte of a plausible TLS record header every 200 ms, forever."""
    connection.recv(4096)
    for byte in b"\x16\x03\x03\x00\x50" + b"\x00" * 200:
        if stop.wait(0.2):
            return
        connection.sendall(bytes([byte]))


@dataclass
class FullBacklog:
    """A listener that never accepts and whose queue is full: the next connect hangs in SYN."""

    address: str = "127.0.0.4"
    listener: socket.socket = field(init=False)
    fillers: list[socket.socket] = field(default_factory=list)
    port: int = 0

    def __enter__(self) -> FullBacklog:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind((self.address, 0))
        self.listener.listen(0)
        self.port = self.listener.getsockname()[1]
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect((self.address, self.port))
            self.fillers.append(filler)
        return self

    def __exit__(self, *exc: object) -> None:
        for filler in self.fillers:
            filler.close()
        self.listener.close()
