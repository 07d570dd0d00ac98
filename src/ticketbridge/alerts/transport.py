"""One HTTP POST to an on-call sink, with a wall-clock deadline and no redirects.

`requests` bounds each socket read, not the request: a peer sending one byte a second never trips
a read timeout. Here the socket is ours (`http.client`), and a watchdog shuts it down when the
deadline passes, whatever phase the request is in (TLS handshake, sending, status line,
headers, body). `http.client` never follows a redirect: a 3xx is returned as the answer it is.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ticketbridge.infra.scrub import outside_detail

__all__ = ["Answer", "DeadlineExceeded", "Refused", "UnusableURL", "post"]

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


class UnusableURL(ValueError):
    """The sink or proxy URL cannot be used at all: a configuration problem, never retried."""


class Refused(ConnectionError):
    """The connection itself failed: the request provably never reached the server."""


def _host_and_port(url: str, what: str) -> tuple[str, str, int | None]:
    """Scheme, host and port of `url`; a URL without them, or with a bad port, is unusable."""
    parts = urlsplit(url)
    try:
        port = parts.port  # urlsplit raises here, not above, for "h:99999" or "h:x"
    except ValueError:
        raise UnusableURL(f"the {what} URL has an invalid port") from None
    if not parts.hostname:
        raise UnusableURL(f"the {what} URL has no host")
    return parts.scheme, parts.hostname, port


def _target(url: str) -> tuple[bool, str, int | None, str]:
    scheme, host, port = _host_and_port(url, "sink")
    if scheme not in ("http", "https"):
        raise UnusableURL("the sink URL must be http:// or https://")
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme == "https", host, port, path


def _proxy_for(scheme: str, host: str) -> tuple[str, int | None, dict[str, str]] | None:
    """The `http_proxy`/`https_proxy` proxy for this URL, unless `no_proxy` exempts the host.

    The lower-case and upper-case variables, as curl, wget and `requests` read them
    (`urllib.request.getproxies_environment`). Only `http://` proxies are spoken to.
    """
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme)
    if not proxy or urllib.request.proxy_bypass(host):  # no_proxy exempts the host
        return None
    proxy = proxy if "://" in proxy else f"http://{proxy}"
    proxy_scheme, proxy_host, proxy_port = _host_and_port(proxy, f"{scheme}_proxy")
    if proxy_scheme != "http":
        raise UnusableURL(f"{scheme}_proxy must be an http:// proxy URL")
    parts = urlsplit(proxy)
    headers = {}
    if parts.username is not None:
        # RFC 9110 §11.7.2; the credentials are scrubbed wherever an error might echo them.
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return proxy_host, proxy_port, headers


def _connection(
    url: str, timeout: float, context: ssl.SSLContext | None
) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """A connection to the sink (or through the proxy to it), the request target, extra headers."""
    secure, host, port, path = _target(url)
    proxy = _proxy_for("https" if secure else "http", host)
    if secure:
        context = context or ssl.create_default_context()
        if proxy is None:
            direct = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
            return direct, path, {}
        # A CONNECT tunnel (RFC 9110 §9.3.6): TLS runs end to end, verified for the sink's name.
        proxy_host, proxy_port, proxy_headers = proxy
        tunnelled = http.client.HTTPSConnection(
            proxy_host, proxy_port, timeout=timeout, context=context
        )
        tunnelled.set_tunnel(host, port, headers=proxy_headers)
        return tunnelled, path, {}
    if proxy is None:
        return http.client.HTTPConnection(host, port, timeout=timeout), path, {}
    # Plain HTTP through a proxy: the absolute form of the target (RFC 9112 §3.2.2).
    proxy_host, proxy_port, proxy_headers = proxy
    plain = http.client.HTTPConnection(proxy_host, proxy_port, timeout=timeout)
    authority = host if port is None else f"{host}:{port}"
    return plain, f"http://{authority}{path}", proxy_headers


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
    started = time.monotonic()
    timeout = min(connect_timeout, deadline)
    connection, path, extra = _connection(url, timeout, context)
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
            return _exchange(connection, path, payload, {**headers, **extra}, started + deadline)
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
