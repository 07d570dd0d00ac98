"""A wall-clock bound on one HTTP exchange with Jira: connecting, the headers and the body.

`requests`' `timeout` bounds each socket read, not the exchange: a peer that trickles its status
line and headers one byte a second holds a call for as long as it likes, because every read gets
a byte in time. A `Watchdog` shuts the exchange's socket down when `jira.timeout` has passed,
which ends whatever read is blocked on it at once; the connection classes below hand the socket
they use to the watchdog of the calling thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

__all__ = ["Watchdog", "WatchedAdapter"]

_current = threading.local()


class Watchdog:
    """Shuts down every socket handed to it once `seconds` have passed since `with` began."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None
        self.expired = False

    def __enter__(self) -> Watchdog:
        self._timer = threading.Timer(self._seconds, self._expire)
        self._timer.daemon = True
        _current.watchdog = self
        self._timer.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _current.watchdog = None
        if self._timer is not None:
            self._timer.cancel()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: the blocked reader owns the descriptor and closes it as it unwinds.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _hand_over(sock: Any) -> None:
    watchdog = getattr(_current, "watchdog", None)
    if watchdog is not None and isinstance(sock, socket.socket):
        watchdog.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _hand_over(self.sock)

    def getresponse(self) -> Any:  # a kept-alive connection is reused without connect()
        _hand_over(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _hand_over(self.sock)

    def getresponse(self) -> Any:
        _hand_over(self.sock)
        return super().getresponse()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """The requests adapter whose connections report their sockets to the thread's watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watched(manager)
        return manager


def _watched(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
