"""Benchmark fixtures: a throwaway CA, SNI-selected leaf certificates and the nginx config serving them.

Everything is written under one work directory (bench/work/ by default, gitignored). The PKI is
root -> intermediate -> leaves; nginx serves leaf + intermediate, as a real site would, so every
probe parses a two-certificate chain. Leaves use ECDSA P-256 keys except every `rsa_every`-th one,
which uses RSA-2048 (a realistic mix: RSA makes the server's handshake several times costlier).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOMAIN = "bench.test"
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Leaf:
    names: tuple[str, ...]
    chain_path: Path  # leaf + intermediate, PEM
    key_path: Path
    key_type: str


@dataclass
class Fixture:
    workdir: Path
    root_path: Path
    leaves: list[Leaf] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [name for leaf in self.leaves for name in leaf.names]


def name_for(index: int) -> str:
    """The index-th benchmark DNS name, 1-based: n0001.bench.test, n0002.bench.test, ..."""
    return f"n{index:04d}.{DOMAIN}"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ticketbridge bench (throwaway)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    issuer: x509.Name | None,
    issuer_key: PrivateKey,
    *,
    ca: bool,
    names: tuple[str, ...] = (),
    now: dt.datetime,
    days: int,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def build(
    workdir: Path, certificates: int = 200, names_per_cert: int = 5, rsa_every: int = 10
) -> Fixture:
    """Write the CA, intermediate and `certificates` leaves (each with `names_per_cert` names)."""
    pki = workdir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(
        "ticketbridge bench root",
        root_key.public_key(),
        None,
        root_key,
        ca=True,
        now=now,
        days=3650,
    )
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _certificate(
        "ticketbridge bench intermediate",
        inter_key.public_key(),
        root.subject,
        root_key,
        ca=True,
        now=now,
        days=1825,
    )
    root_path = pki / "root.pem"
    root_path.write_bytes(_pem(root))
    fixture = Fixture(workdir=workdir, root_path=root_path)

    for number in range(certificates):
        first = number * names_per_cert + 1
        names = tuple(name_for(first + offset) for offset in range(names_per_cert))
        use_rsa = rsa_every > 0 and number % rsa_every == rsa_every - 1
        key: PrivateKey = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if use_rsa
            else ec.generate_private_key(ec.SECP256R1())
        )
        leaf = _certificate(
            names[0],
            key.public_key(),
            inter.subject,
            inter_key,
            ca=False,
            names=names,
            now=now,
            days=200 + number,
        )
        chain_path = pki / f"leaf{number:03d}.pem"
        key_path = pki / f"leaf{number:03d}.key"
        chain_path.write_bytes(_pem(leaf) + _pem(inter))
        key_path.write_bytes(_key_pem(key))
        key_path.chmod(0o600)
        fixture.leaves.append(
            Leaf(
                names=names,
                chain_path=chain_path,
                key_path=key_path,
                key_type="rsa2048" if use_rsa else "p256",
            )
        )
    return fixture


def _check_loopback(address: str) -> None:
    if not ipaddress.ip_address(address).is_loopback:
        raise ValueError(f"{address} is not a loopback address: the benchmark stays on 127.0.0.0/8")


def nginx_conf(fixture: Fixture, runtime: Path, listen: list[tuple[str, int]]) -> str:
    """An nginx config: one worker, full handshakes only, one server block per certificate."""
    for address, _ in listen:
        _check_loopback(address)
    default_leaf = fixture.leaves[0]
    lines = [
        "# Generated by bench/fixtures.py; runs in the foreground with its own prefix.",
        "worker_processes 1;",
        "daemon off;",
        f"pid {runtime}/nginx.pid;",
        f"error_log {runtime}/error.log warn;",
        "worker_rlimit_nofile 16384;",
        "events { worker_connections 8192; multi_accept on; }",
        "http {",
        "    access_log off;",
        f"    client_body_temp_path {runtime}/tmp-body;",
        f"    proxy_temp_path {runtime}/tmp-proxy;",
        f"    fastcgi_temp_path {runtime}/tmp-fastcgi;",
        f"    uwsgi_temp_path {runtime}/tmp-uwsgi;",
        f"    scgi_temp_path {runtime}/tmp-scgi;",
        "    server_names_hash_max_size 4096;",
        "    server_names_hash_bucket_size 128;",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    ssl_session_cache off;",
        "    ssl_session_tickets off;",
        "    keepalive_timeout 5s;",
        "    # Unknown names: refuse the TLS handshake rather than serve some certificate.",
        "    server {",
    ]
    lines += [f"        listen {address}:{port} ssl default_server;" for address, port in listen]
    lines += [
        "        ssl_reject_handshake on;",
        f"        ssl_certificate {default_leaf.chain_path};",
        f"        ssl_certificate_key {default_leaf.key_path};",
        "    }",
    ]
    for leaf in fixture.leaves:
        lines.append("    server {")
        lines += [f"        listen {address}:{port} ssl;" for address, port in listen]
        lines += [
            f"        server_name {' '.join(leaf.names)};",
            f"        ssl_certificate {leaf.chain_path};",
            f"        ssl_certificate_key {leaf.key_path};",
            "        return 204;",
            "    }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "work")
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--names-per-cert", type=int, default=5)
    parser.add_argument("--rsa-every", type=int, default=10)
    args = parser.parse_args()
    fixture = build(args.workdir, args.certificates, args.names_per_cert, args.rsa_every)
    runtime = args.workdir / "nginx"
    runtime.mkdir(parents=True, exist_ok=True)
    conf = runtime / "nginx.conf"
    conf.write_text(nginx_conf(fixture, runtime, [("127.0.0.2", 8443)]))
    print(f"{len(fixture.leaves)} certificates, {len(fixture.names)} names; nginx config: {conf}")


if __name__ == "__main__":
    main()
