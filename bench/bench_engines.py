"""Client CPU per TLS handshake: the standard library's `ssl` (the system OpenSSL) against
pyOpenSSL (the OpenSSL `cryptography` bundles), in the same blocking loop, against the same server.

The evidence behind discovery/tlsengine.py. Both loops do what a probe does and nothing more:
connect, handshake through memory buffers with no verification, take the served chain, close.
Run it against the bench's nginx while it is up (bench/run.py starts it on 127.0.0.2:8443 with
names n0001.bench.test ... n1000.bench.test), or any server of your own:

    .venv/bin/python bench/bench_engines.py --address 127.0.0.2 --port 8443 --rounds 3

It alternates the two engines for `--rounds` rounds of `--handshakes` each and prints the CPU
time per handshake of every round (user + system, this process only) and the median.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import socket
import ssl
import statistics
from collections.abc import Callable

from OpenSSL import SSL
from OpenSSL.crypto import FILETYPE_ASN1, dump_certificate

from ticketbridge.discovery.tlsengine import client_context

Handshake = Callable[[str], int]


def _stdlib(address: tuple[str, int]) -> Handshake:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers("ALL:@SECLEVEL=0")

    def handshake(name: str) -> int:
        with socket.create_connection(address) as sock:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_hostname=name)
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    if outgoing.pending:
                        sock.sendall(outgoing.read())
                    incoming.write(sock.recv(16384))
            if outgoing.pending:
                sock.sendall(outgoing.read())
            chain = tls._sslobj.get_unverified_chain()  # type: ignore[attr-defined]
            return len([c.public_bytes(2) for c in chain])  # 2: ENCODING_DER

    return handshake


def _pyopenssl(address: tuple[str, int]) -> Handshake:
    context = client_context()  # the probe's own: no verification, classic groups

    def flush(connection: SSL.Connection, sock: socket.socket) -> None:
        with contextlib.suppress(SSL.WantReadError):
            sock.sendall(connection.bio_read(1 << 17))

    def handshake(name: str) -> int:
        with socket.create_connection(address) as sock:
            connection = SSL.Connection(context, None)
            connection.set_tlsext_host_name(name.encode("idna"))
            connection.set_connect_state()
            while True:
                try:
                    connection.do_handshake()
                    break
                except SSL.WantReadError:
                    flush(connection, sock)
                    connection.bio_write(sock.recv(16384))
            flush(connection, sock)
            chain = connection.get_peer_cert_chain() or []
            return len([dump_certificate(FILETYPE_ASN1, c) for c in chain])

    return handshake


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _round(handshake: Handshake, names: list[str]) -> float:
    start = _cpu()
    for name in names:
        if handshake(name) < 1:
            raise SystemExit(f"no certificate served for {name}")
    return (_cpu() - start) / len(names) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--name-pattern", default="n{:04d}.bench.test")
    parser.add_argument("--names", type=int, default=1000)
    parser.add_argument("--handshakes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    target = (args.address, args.port)
    names = [args.name_pattern.format(i % args.names + 1) for i in range(args.handshakes)]
    engines = {
        f"ssl ({ssl.OPENSSL_VERSION})": _stdlib(target),
        f"pyOpenSSL ({SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode()})": _pyopenssl(target),
    }
    for handshake in engines.values():  # warm-up: imports, first-connection costs
        _round(handshake, names[:20])
    results: dict[str, list[float]] = {label: [] for label in engines}
    for _ in range(args.rounds):
        for label, handshake in engines.items():
            results[label].append(_round(handshake, names))
    for label, rounds in results.items():
        each = ", ".join(f"{value:.3f}" for value in rounds)
        print(f"{label}: median {statistics.median(rounds):.3f} ms CPU/handshake ({each})")


if __name__ == "__main__":
    main()
