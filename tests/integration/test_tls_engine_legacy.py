"""The probe's TLS client (cryptography's bundled OpenSSL, discovery/tlsengine.py) still reads the
certificate of servers only old clients can talk to: TLS 1.0 and 1.1, RSA key exchange, SHA-1.

The servers are Debian's `openssl s_server` (the system OpenSSL, not the one the probe links),
with keys and certificates made by the `openssl` command line: nothing here is ours.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.probing import PROBE_PATHS, ProbeOne
from ticketbridge.core.model import Endpoint
from ticketbridge.discovery.tls import ProbeOptions

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")

ADDRESS = "127.0.0.29"
OPTIONS = ProbeOptions(connect_timeout=2.0, handshake_timeout=3.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((ADDRESS, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def legacy_identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An RSA-2048 self-signed certificate signed with SHA-1, as 2010's servers had."""
    directory = tmp_path_factory.mktemp("legacy")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha1",
            "-keyout", str(key), "-out", str(cert), "-days", "30",
            "-subj", "/CN=legacy.test", "-addext", "subjectAltName=DNS:legacy.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture
def s_server(legacy_identity: tuple[Path, Path]) -> Iterator[object]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*flags: str) -> int:
        key, cert = legacy_identity
        port = _free_port()
        process = subprocess.Popen(
            [
                "openssl", "s_server", "-accept", f"{ADDRESS}:{port}", "-key", str(key),
                "-cert", str(cert), "-quiet", *flags,
            ],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(process)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with socket.socket() as probe_socket:
                if probe_socket.connect_ex((ADDRESS, port)) == 0:
                    break
            time.sleep(0.05)
        return port

    yield start
    for process in started:
        process.kill()
        process.wait()


@pytest.mark.parametrize(
    "flags",
    [
        pytest.param(("-tls1", "-cipher", "ALL:@SECLEVEL=0"), id="TLS 1.0"),
        pytest.param(("-tls1_1", "-cipher", "ALL:@SECLEVEL=0"), id="TLS 1.1"),
        pytest.param(("-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"), id="RSA key exchange"),
        pytest.param(("-tls1_3",), id="TLS 1.3 only"),
        # Servers that take one group the client sends no key share for: a HelloRetryRequest.
        pytest.param(("-tls1_3", "-groups", "P-384"), id="TLS 1.3, P-384 only"),
        pytest.param(("-tls1_3", "-groups", "ffdhe2048"), id="TLS 1.3, ffdhe2048 only"),
        pytest.param(("-tls1_2", "-groups", "P-521"), id="TLS 1.2, ECDHE on P-521 only"),
        # The probe offers AES-128-GCM first (tlsengine._TLS13_SUITES); servers that take only
        # one of the other suites still answer.
        pytest.param(("-tls1_3", "-ciphersuites", "TLS_AES_256_GCM_SHA384"), id="AES-256 only"),
        pytest.param(
            ("-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"), id="ChaCha20 only"
        ),
    ],
)
@PROBE_PATHS
def test_old_servers_still_show_their_certificate(
    s_server: object, flags: tuple[str, ...], probe_with: ProbeOne
) -> None:
    port = s_server(*flags)  # type: ignore[operator]
    endpoint = Endpoint(host="legacy.test", port=port, address=ADDRESS, sni="legacy.test")
    observation = asyncio.run(probe_with(endpoint, OPTIONS))
    assert observation.status == "ok", observation.error
    assert observation.certificate is not None
    assert observation.certificate.names == ("legacy.test",)
    assert observation.certificate.signature_algorithm.lower().startswith("sha1")


def test_tls13_suites_are_offered_in_the_browsers_order(s_server: object) -> None:
    """OpenSSL's s_server takes the client's order unless told otherwise: the suite it picks
    is the probe's first choice, AES-128-GCM with SHA-256 (not OpenSSL's default AES-256)."""
    from ticketbridge.discovery.tlsengine import ClientTls

    port = s_server("-tls1_3")  # type: ignore[operator]
    tls = ClientTls.start("legacy.test")
    with socket.create_connection((ADDRESS, port), timeout=5) as sock:
        while not tls.handshake():
            sock.sendall(tls.take_output())
            tls.feed(sock.recv(65536))
    assert tls.connection.get_cipher_name() == "TLS_AES_128_GCM_SHA256"
