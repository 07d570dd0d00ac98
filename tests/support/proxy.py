"""A forward HTTP proxy on loopback: CONNECT tunnels (RFC 9110 §9.3.6) and absolute-form requests
(RFC 9112 §3.2.2), recording the request line and headers of everything it is asked to carry."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
from urllib.parse import urlsplit

from support.tlsservers import ScriptedServer


def _read_head(connection: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = connection.recv(65536)
        if not more:
            break
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _pipe(one: socket.socket, other: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        ready, _, _ = select.select([one, other], [], [], 0.05)
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (other if source is one else one).sendall(data)


class ForwardProxy(ScriptedServer):
    def __init__(self, address: str = "127.0.0.11") -> None:
        self.seen: list[bytes] = []  # each request head the proxy received
        super().__init__(self._serve, address)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def _serve(self, connection: socket.socket, stop: threading.Event) -> None:
        head, rest = _read_head(connection)
        with self._lock:
            self.seen.append(head)
        method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
        if method == b"CONNECT":
            host, _, port = target.decode().rpartition(":")
            with socket.create_connection((host, int(port)), timeout=5) as upstream:
                connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _pipe(connection, upstream, stop)
            return
        parts = urlsplit(target.decode())
        origin = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request_line, _, headers = head.partition(b"\r\n")
        rewritten = request_line.replace(target, origin.encode(), 1) + b"\r\n" + headers
        with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=5) as up:
            up.sendall(rewritten + b"\r\n\r\n" + rest)
            with contextlib.suppress(OSError):
                _pipe(connection, up, stop)
