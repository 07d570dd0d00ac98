"""One HTTP POST to an on-call sink, with a wall-clock deadline and no redirects.

`requests` bounds each socket read, not the request: a peer sending one byte a second never trips
a read timeout. Here the socket is ours (`http.client`), and a watchdog shuts it down when the
deadline passes, whatever phase the request is in (TLS handshake, sending, status line,
headers, body). `http.client` never follows a redirect: a 3xx is returned as the answer it is.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ticketbridge.infra.scrub import outside_detail

__all__ = ["Answer", "DeadlineExceeded", "post"]

# Enough of an error body to say what went wrong; the rest is never read.
MAX_ERROR_BODY = 4096


@dataclass(frozen=True, slots=True)
class Answer:
    """The server's answer to the POST itself: status, headers, and a safe one-line body excerpt."""

    status: int
    headers: Mapping[str, str]
    detail: str


class DeadlineExceeded(TimeoutError):
    """No complete answer before the deadline; the request may or may not have been received."""


class Refused(ConnectionError):
    """The connection itself failed: the request provably never reached the server."""


def _target(url: str) -> tuple[bool, str, int | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the sink URL must be http:// or https:// with a host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return parts.scheme == "https", parts.hostname, parts.port, path


def post(
    url: str,
    payload: bytes,
    headers: Mapping[str, str],
    *,
    deadline: float,
    connect_timeout: float,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """POST `payload` once; return the answer, or raise within `deadline` seconds.

    Raises `Refused` when the connection could not be made, `DeadlineExceeded` when the
    answer did not arrive in time, and `OSError`/`http.client.HTTPException` for a broken answer.
    """
    secure, host, port, path = _target(url)
    started = time.monotonic()
    timeout = min(connect_timeout, deadline)
    connection: http.client.HTTPConnection
    if secure:
        connection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=context or ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            # socket.socket's own shutdown, not SSLSocket's: that one tears down TLS state
            # another thread may be using; the plain one just wakes the blocked read.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(deadline, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            connection.connect()
        except (OSError, ssl.SSLError) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise DeadlineExceeded(f"no connection within {timeout:g}s") from None
            if isinstance(exc, ssl.SSLError):
                raise
            raise Refused(f"cannot connect: {exc.strerror or type(exc).__name__}") from None
        try:
            return _exchange(connection, path, payload, headers, started + deadline)
        except (OSError, http.client.HTTPException) as exc:
            if expired.is_set() or isinstance(exc, TimeoutError):
                raise DeadlineExceeded(f"no complete answer within {deadline:g}s") from None
            raise
    finally:
        watchdog.cancel()
        connection.close()


def _exchange(
    connection: http.client.HTTPConnection,
    path: str,
    payload: bytes,
    headers: Mapping[str, str],
    ends: float,
) -> Answer:
    sock = connection.sock
    if sock is not None:  # every read and write waits at most until the deadline, too
        sock.settimeout(max(0.001, ends - time.monotonic()))
    connection.request("POST", path, body=payload, headers=dict(headers))
    response = connection.getresponse()
    answer_headers = dict(response.getheaders())
    if 200 <= response.status < 300:
        # Delivered: the status line says so. The body is not needed and is not waited for.
        return Answer(response.status, answer_headers, "")
    try:
        body = response.read(MAX_ERROR_BODY)
    except (OSError, http.client.HTTPException):
        body = b""  # the status is the answer; a broken or slow body only loses the excerpt
    return Answer(response.status, answer_headers, outside_detail(body))
