"""The incident, replayed on loopback for `ticketbridge demo`: a throwaway PKI and real TLS servers."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ticketbridge.testing.pki import Issued, issue


@dataclass(frozen=True, slots=True)
class IncidentPKI:
    """The certificates of the incident, dated relative to `now`."""

    root: Issued
    intermediate: Issued
    wildcard_old: Issued  # *.example.com, expiring within days: what app and api still serve
    wildcard_new: Issued  # the renewal, deployed on one load-balancer node only
    www: Issued  # www.example.com moved to its own certificate, months away


def incident_pki(now: datetime) -> IncidentPKI:
    root = issue(
        "ticketbridge demo root CA",
        None,
        not_before=now - timedelta(days=700),
        not_after=now + timedelta(days=3000),
        ca=True,
    )
    intermediate = issue(
        "ticketbridge demo issuing CA",
        root,
        not_before=now - timedelta(days=700),
        not_after=now + timedelta(days=1500),
        ca=True,
    )
    wildcard_names = ("*.example.com", "example.com")
    return IncidentPKI(
        root=root,
        intermediate=intermediate,
        wildcard_old=issue(
            "*.example.com",
            intermediate,
            not_before=now - timedelta(days=395),
            not_after=now + timedelta(days=2, hours=7),
            names=wildcard_names,
        ),
        wildcard_new=issue(
            "*.example.com",
            intermediate,
            not_before=now - timedelta(days=1),
            not_after=now + timedelta(days=397),
            names=wildcard_names,
        ),
        www=issue(
            "www.example.com",
            intermediate,
            not_before=now - timedelta(days=60),
            not_after=now + timedelta(days=300),
            names=("www.example.com",),
        ),
    )


@dataclass(frozen=True, slots=True)
class DemoEndpoint:
    host: str
    address: str
    port: int
    role: str


class _Server:
    """One TLS listener on a loopback address, answering handshakes in a thread."""

    def __init__(
        self, address: str, port: int, chain_pem: bytes, key_pem: bytes, workdir: Path
    ) -> None:
        cert_path = workdir / f"{address}.crt"
        key_path = workdir / f"{address}.key"
        cert_path.write_bytes(chain_pem)
        key_path.write_bytes(key_pem)
        key_path.chmod(0o600)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_path, key_path)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((address, port))
        except OSError:
            self.listener.close()
            raise
        self.listener.listen(64)
        self.port: int = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._handshake, args=(connection,), daemon=True).start()

    def _handshake(self, connection: socket.socket) -> None:
        connection.settimeout(5)
        with (
            contextlib.suppress(OSError),
            self.context.wrap_socket(connection, server_side=True) as tls,
        ):
            tls.recv(1)
        connection.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(timeout=2)


@contextlib.contextmanager
def incident_servers(pki: IncidentPKI, workdir: Path) -> Iterator[list[DemoEndpoint]]:
    """Serve the incident on 127.0.0.11-14: two app nodes (one stale), api, and www."""
    intermediate = pki.intermediate.pem
    layout = [
        ("app.example.com", "127.0.0.11", pki.wildcard_new, "load-balancer node with the renewal"),
        ("app.example.com", "127.0.0.12", pki.wildcard_old, "stale load-balancer node"),
        ("api.example.com", "127.0.0.13", pki.wildcard_old, "still on the expiring wildcard"),
        ("www.example.com", "127.0.0.14", pki.www, "moved to its own certificate"),
    ]
    # One port on every address, as behind a real load balancer: the config then lists one
    # endpoint per host with several addresses. Retry if another process holds the port.
    for _ in range(20):
        servers: list[_Server] = []
        try:
            port = 0
            for _host, address, issued, _role in layout:
                server = _Server(address, port, issued.pem + intermediate, issued.key_pem, workdir)
                servers.append(server)
                port = server.port
            break
        except OSError:
            for server in servers:
                server.close()
    else:
        raise OSError("no free port common to 127.0.0.11-14")
    try:
        yield [
            DemoEndpoint(host, address, server.port, role)
            for (host, address, _issued, role), server in zip(layout, servers, strict=True)
        ]
    finally:
        for server in servers:
            server.close()
