"""A raw HTTP/1.1 peer for the alert sinks: it reads a request and answers with scripted bytes.

The bytes are written by hand, as RFC 9112 frames them (status line, header fields, CRLF, body),
so a test can send what no well-behaved server library would: a redirect, a status line
trickled a byte at a time, a body that never ends, a `Content-Length` that lies, garbage.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from support.tlsservers import ScriptedServer


@dataclass(frozen=True)
class Chunk:
    """Bytes to write, after a pause."""

    data: bytes
    delay: float = 0.0


@dataclass
class Script:
    """What one connection receives; `requests` records each request's head and body.

    `reply`, when set, makes the first chunk from the request itself (a server echoing it).
    """

    chunks: Sequence[Chunk]
    close: bool = True
    reply: Callable[[bytes], bytes] | None = None
    requests: list[bytes] = field(default_factory=list)


def response(
    status: int, reason: str = "X", headers: Sequence[str] = (), body: bytes = b""
) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def _read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = connection.recv(65536)
        if not more:
            return data
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        more = connection.recv(65536)
        if not more:
            break
        body += more
    return head + b"\r\n\r\n" + body


class RawHttpServer(ScriptedServer):
    """Each connection takes the next script (the last one repeats)."""

    def __init__(self, scripts: Sequence[Script], address: str = "127.0.0.9") -> None:
        self.scripts = list(scripts)
        self.served: list[Script] = []
        super().__init__(self._play, address)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/hook"

    @property
    def posts(self) -> int:
        return sum(len(script.requests) for script in self.served)

    def _play(self, connection: socket.socket, stop: threading.Event) -> None:
        with self._lock:
            script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
            self.served.append(script)
        connection.settimeout(5)
        request = _read_request(connection)
        script.requests.append(request)
        if script.reply is not None:
            connection.sendall(script.reply(request))
        for chunk in script.chunks:
            ends = time.monotonic() + chunk.delay
            while time.monotonic() < ends:
                if stop.wait(min(0.05, max(0.0, ends - time.monotonic()))):
                    return
            connection.sendall(chunk.data)
        if not script.close:
            stop.wait(30)
