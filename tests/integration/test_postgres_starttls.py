"""PostgreSQL's SSLRequest against a real server: TLS when `ssl = on`, a refusal when it is off."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from support.starttls_servers import TLSIdentity, finish_with_tls, plain_stream
from ticketbridge.core.model import Endpoint, ErrorKind, Protocol
from ticketbridge.discovery.starttls import StartTLSRefused, negotiate

pytestmark = pytest.mark.postgres

SERVER_NAME = "db.test"
STARTUP_TIMEOUT = 10.0


def postgres_bin_dir() -> Path:
    """The newest Debian-packaged PostgreSQL's binaries, or a skip naming the package."""
    candidates = sorted(
        (path.parent for path in Path("/usr/lib/postgresql").glob("*/bin/postgres")),
        key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0,
    )
    for bin_dir in reversed(candidates):
        if all((bin_dir / tool).exists() for tool in ("initdb", "pg_isready")):
            return bin_dir
    pytest.skip("no PostgreSQL server under /usr/lib/postgresql/*/bin (apt-get install postgresql)")


def as_server_user() -> list[str]:
    """The command prefix that runs initdb and postgres, which both refuse to run as root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` system user to run the server as")
    # setpriv execs the command itself (runuser forks and waits), so the process we signal at
    # teardown is the postmaster.
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]


def hand_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_postgres(identity: TLSIdentity, *, ssl: bool) -> Iterator[int]:
    """A throwaway cluster listening on 127.0.0.1; yields its port, removes it all afterwards."""
    bin_dir = postgres_bin_dir()
    prefix = as_server_user()
    # Not pytest's tmp_path: its root (/tmp/pytest-of-<user>) is mode 0700, which the postgres
    # user cannot traverse when the tests run as root.
    directory = Path(tempfile.mkdtemp(prefix="tb-postgres-"))
    process: subprocess.Popen[bytes] | None = None
    log_path = directory / "postgres.log"
    try:
        hand_to_server_user(directory)
        data = directory / "data"
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                f"--pgdata={data}",
                "--auth=trust",
                "--username=postgres",
                "--no-sync",  # a throwaway cluster: skip the fsyncs that dominate initdb's time
                "--encoding=UTF8",
                "--locale=C",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        certificate, key = directory / "server.crt", directory / "server.key"
        certificate.write_bytes(b"".join(pem.bytes() for pem in identity.leaf.cert_chain_pems))
        key.write_bytes(identity.leaf.private_key_pem.bytes())
        key.chmod(0o600)  # the server refuses a key that others can read
        for path in (certificate, key):
            hand_to_server_user(path)
        port = free_port()
        settings = {
            "ssl": "on" if ssl else "off",
            "ssl_cert_file": str(certificate),
            "ssl_key_file": str(key),
            "fsync": "off",
            "max_connections": "10",
        }
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*prefix, str(bin_dir / "postgres"), "-D", str(data)]
                + ["-h", "127.0.0.1", "-p", str(port), "-k", str(directory)]
                + [f"-c{name}={value}" for name, value in settings.items()],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until_ready(bin_dir, port, process, log_path)
        yield port
    finally:
        if process is not None:
            stop(process)
        shutil.rmtree(directory, ignore_errors=True)


def wait_until_ready(
    bin_dir: Path, port: int, process: subprocess.Popen[bytes], log_path: Path
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"postgres exited with {process.returncode}: {log_path.read_text()}")
        ready = subprocess.run(
            [str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
            check=False,
        )
        if ready.returncode == 0:
            return
        time.sleep(0.05)
    pytest.fail(f"postgres not ready after {STARTUP_TIMEOUT:g}s: {log_path.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)  # "fast" shutdown: disconnect clients, no checkpoint wait
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def identity() -> TLSIdentity:
    return TLSIdentity.create(SERVER_NAME, "127.0.0.1")


@pytest.fixture(scope="module")
def postgres_with_ssl(identity: TLSIdentity) -> Iterator[int]:
    with running_postgres(identity, ssl=True) as port:
        yield port


@pytest.fixture(scope="module")
def postgres_without_ssl(identity: TLSIdentity) -> Iterator[int]:
    with running_postgres(identity, ssl=False) as port:
        yield port


def endpoint(port: int) -> Endpoint:
    return Endpoint(
        host=SERVER_NAME,
        port=port,
        address="127.0.0.1",
        sni=SERVER_NAME,
        protocol=Protocol.POSTGRES,
    )


def tls_module() -> Any:
    return pytest.importorskip(
        "ticketbridge.discovery.tls", reason="the probe (discovery/tls.py) is not in this tree yet"
    )


async def test_sslrequest_leads_into_a_tls_handshake(
    postgres_with_ssl: int, identity: TLSIdentity
) -> None:
    async with plain_stream(("127.0.0.1", postgres_with_ssl)) as stream:
        await negotiate(Protocol.POSTGRES, stream, SERVER_NAME)
        leaf = await finish_with_tls(stream, identity.client_context(), SERVER_NAME)
    assert leaf == identity.leaf_der


async def test_server_with_ssl_off_refuses(postgres_without_ssl: int) -> None:
    async with plain_stream(("127.0.0.1", postgres_without_ssl)) as stream:
        with pytest.raises(StartTLSRefused, match="SSL is off"):
            await negotiate(Protocol.POSTGRES, stream, SERVER_NAME)


async def test_probe_reads_the_served_certificate(
    postgres_with_ssl: int, identity: TLSIdentity
) -> None:
    tls = tls_module()
    observation = await tls.probe(endpoint(postgres_with_ssl), tls.ProbeOptions())
    assert observation.status == "ok", observation.error
    assert observation.certificate.names == (SERVER_NAME,)


async def test_probe_reports_ssl_off_as_a_protocol_error(postgres_without_ssl: int) -> None:
    tls = tls_module()
    observation = await tls.probe(endpoint(postgres_without_ssl), tls.ProbeOptions())
    assert observation.status == "error"
    assert observation.error.kind == ErrorKind.PROTOCOL
    assert "SSL is off" in observation.error.message
