"""HTTPS on loopback for the HSTS probe: a scripted Python server, and Debian's nginx when present."""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from support.tlsservers import Served, TLSServer, chain_pem

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


class HTTPSServer(TLSServer):
    """Answers each request head with `response` (bytes, written as is), recording the request.

    `silent` servers complete the handshake and then say nothing (a stuck backend).
    """

    def __init__(
        self, served: Served, response: bytes, address: str = "127.0.0.2", *, silent: bool = False
    ) -> None:
        super().__init__(served, address=address)
        self.response = response
        self.silent = silent
        self.requests: list[bytes] = []

    def handle(self, connection: socket.socket) -> None:
        with self.default_context.wrap_socket(connection, server_side=True) as tls:
            tls.settimeout(5)
            request = b""
            with contextlib.suppress(OSError, ssl.SSLError):
                while b"\r\n\r\n" not in request:
                    chunk = tls.recv(4096)
                    if not chunk:
                        return
                    request += chunk
                with self._lock:
                    self.requests.append(request)
                if self.silent:
                    time.sleep(3)
                    return
                tls.sendall(self.response)


def response(*headers: str, status: str = "200 OK") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers, "Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def nginx(served: Served, address: str, add_header: str) -> Iterator[int]:
    """Debian's nginx serving `served` with `add_header <add_header> always;`; yields the port."""
    assert NGINX is not None
    with tempfile.TemporaryDirectory(prefix="tb-nginx-") as name:
        root = Path(name)
        (root / "cert.pem").write_bytes(chain_pem(served.chain))
        (root / "key.pem").write_bytes(served.key)
        port = _free_port(address)
        (root / "nginx.conf").write_text(
            f"daemon off;\nmaster_process off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n"
            "events { worker_connections 64; }\n"
            "http {\n"
            f"  access_log off;\n  client_body_temp_path {root};\n  proxy_temp_path {root};\n"
            f"  fastcgi_temp_path {root};\n  uwsgi_temp_path {root};\n  scgi_temp_path {root};\n"
            "  server {\n"
            f"    listen {address}:{port} ssl;\n"
            f"    ssl_certificate {root}/cert.pem;\n    ssl_certificate_key {root}/key.pem;\n"
            f"    add_header {add_header} always;\n"
            "    location / { return 204; }\n"
            "  }\n}\n",
            encoding="utf-8",
        )
        process = subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_listening(address, port, process)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_listening(address: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")
