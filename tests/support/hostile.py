"""A scripted HTTP peer on loopback for hostile answers the faithful JiraFake never gives.

`Hostile(script)` calls `script(method, path, body)` for every request and sends what it returns:
an `Answer` (status, headers, body bytes, and optionally a pause between body bytes for a
slowloris). Every request is recorded, so a test can say what was written after what.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["Answer", "Hostile", "Seen", "jira_json"]


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    byte_pause: float = 0.0  # seconds between body bytes: a slowloris when > 0
    header_pause: float = 0.0  # seconds between bytes of the status line and headers


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    body: bytes
    authorization: str

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "DELETE") and "/search" not in self.path


def jira_json(value: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


Script = Callable[[str, str, bytes], Answer]


class Hostile:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    def writes(self) -> list[Seen]:
        return [seen for seen in self.seen if seen.is_write]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hostile = self.server.hostile
        hostile.seen.append(
            Seen(self.command, self.path, body, self.headers.get("Authorization", ""))
        )
        answer = hostile.script(self.command, self.path, body)
        if answer.header_pause > 0:
            self._trickle_headers(answer)
            return
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if answer.byte_pause <= 0:
            self.wfile.write(answer.body)
            return
        self.close_connection = True
        with contextlib.suppress(OSError):
            for index in range(len(answer.body)):
                self.wfile.write(answer.body[index : index + 1])
                self.wfile.flush()
                time.sleep(answer.byte_pause)

    def _trickle_headers(self, answer: Answer) -> None:
        head = f"HTTP/1.1 {answer.status} OK\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in answer.headers.items()
        )
        head += "X-Padding: " + "x" * 200 + f"\r\nContent-Length: {len(answer.body)}\r\n\r\n"
        self.close_connection = True
        with contextlib.suppress(OSError):
            for byte in (head.encode() + answer.body)[:-1]:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(answer.header_pause)

    do_GET = do_POST = do_PUT = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hostile: Hostile) -> None:
        self.hostile = hostile
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass
