"""HSTS read over the probe's own TLS connection: real servers on loopback, RFC 6797's rules."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from support.certs import make_ca, make_leaf
from support.https_servers import NGINX, HTTPSServer, nginx, response
from support.tlsservers import Served, TLSServer
from ticketbridge.core.hsts import Hsts, HstsError
from ticketbridge.core.model import Endpoint, Observation, Protocol
from ticketbridge.discovery.hsts import HstsTargets
from ticketbridge.discovery.tls import ProbeOptions, probe

NOW = datetime.now(UTC).replace(microsecond=0)
ADDRESS = "127.0.0.17"
ALWAYS = ProbeOptions(connect_timeout=1.0, handshake_timeout=1.5, hsts=HstsTargets("always"))
FULL_POLICY = "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload"


@pytest.fixture(scope="module")
def served() -> Served:
    root = make_ca(
        "HSTS Root", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=900)
    )
    leaf = make_leaf(
        root,
        names=("app.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=90),
        key_slot="hsts-leaf",
    )
    return Served([leaf, root])


def at(port: int, host: str = "app.example.com", protocol: Protocol = Protocol.TLS) -> Endpoint:
    return Endpoint(host=host, port=port, address=ADDRESS, sni=host, protocol=protocol)


def observe(port: int, options: ProbeOptions = ALWAYS) -> Observation:
    return asyncio.run(probe(at(port), options))


def test_the_policy_is_read_with_one_head_request_on_the_same_connection(served: Served) -> None:
    with HTTPSServer(served, response(FULL_POLICY), ADDRESS) as server:
        observation = observe(server.port)
    assert observation.ok
    assert observation.hsts == Hsts(
        present=True, max_age=31536000, include_subdomains=True, preload=True, status=200
    )
    (request,) = server.requests  # one request: no second connection, no retry
    assert request.startswith(b"HEAD / HTTP/1.1\r\n")
    assert f"\r\nHost: app.example.com:{server.port}\r\n".encode() in request


def test_hsts_never_changes_the_certificate_facts(served: Served) -> None:
    with HTTPSServer(served, response(FULL_POLICY), ADDRESS) as server:
        with_hsts = observe(server.port)
        without = observe(server.port, ProbeOptions(connect_timeout=1.0, handshake_timeout=1.5))
    assert without.hsts is None
    assert with_hsts.certificate == without.certificate and with_hsts.chain == without.chain
    assert with_hsts.effective_not_after == without.effective_not_after


def test_only_the_first_header_is_processed(served: Served) -> None:
    """RFC 6797 section 8.1: more than one STS header field: process only the first."""
    first, second = "Strict-Transport-Security: max-age=60", FULL_POLICY
    with HTTPSServer(served, response(first, second), ADDRESS) as server:
        hsts = observe(server.port).hsts
    assert hsts == Hsts(present=True, max_age=60, status=200)


def test_a_header_a_browser_must_ignore_is_reported_invalid(served: Served) -> None:
    """RFC 6797 section 6.1 items 2 and 4: a directive twice makes the whole header invalid."""
    header = "Strict-Transport-Security: max-age=60; max-age=31536000"
    with HTTPSServer(served, response(header, status="301 Moved Permanently"), ADDRESS) as server:
        hsts = observe(server.port).hsts
    assert hsts is not None and hsts.present and hsts.max_age is None and hsts.status == 301
    assert hsts.error is not None and hsts.error.kind == "invalid"
    assert "more than once" in hsts.error.message


def test_no_header_is_absent_with_the_status(served: Served) -> None:
    with HTTPSServer(served, response("Server: test", status="404 Not Found"), ADDRESS) as server:
        assert observe(server.port).hsts == Hsts(present=False, status=404)


def test_a_server_that_closes_after_the_handshake_keeps_its_certificate(served: Served) -> None:
    with TLSServer(served, address=ADDRESS) as server:
        observation = observe(server.port)
    assert observation.ok and observation.certificate is not None
    assert observation.hsts is not None and observation.hsts.error is not None
    assert observation.hsts.error.kind in {"reset", "tls"}


def test_a_silent_server_costs_at_most_the_handshake_timeout(served: Served) -> None:
    with HTTPSServer(served, b"", ADDRESS, silent=True) as server:
        started = time.monotonic()
        observation = observe(server.port)
        elapsed = time.monotonic() - started
    assert observation.ok
    assert observation.hsts == Hsts(
        present=False,
        error=HstsError("timeout", "no response head before the handshake timeout ran out"),
    )
    assert elapsed < ALWAYS.connect_timeout + ALWAYS.handshake_timeout + 0.5


def test_an_endless_response_head_is_cut_off(served: Served) -> None:
    endless = b"HTTP/1.1 200 OK\r\n" + b"X-Filler: " + b"a" * 200_000 + b"\r\n\r\n"
    with HTTPSServer(served, endless, ADDRESS) as server:
        observation = observe(server.port)
    assert observation.ok
    assert observation.hsts is not None and observation.hsts.error is not None
    assert observation.hsts.error.kind == "too_large"


def test_not_http_is_a_protocol_error(served: Served) -> None:
    with HTTPSServer(served, b"220 smtp.example.com ESMTP\r\n\r\n", ADDRESS) as server:
        hsts = observe(server.port).hsts
    assert hsts is not None and hsts.error is not None and hsts.error.kind == "protocol"


@pytest.mark.parametrize(
    ("targets", "endpoint", "wanted"),
    [
        (HstsTargets("auto"), at(443), True),
        (HstsTargets("auto"), at(8443), False),
        (HstsTargets("auto", http_on=frozenset({("app.example.com", 8443)})), at(8443), True),
        (HstsTargets("auto", http_off=frozenset({("app.example.com", 443)})), at(443), False),
        (HstsTargets("always"), at(8443), True),
        (HstsTargets("always", http_off=frozenset({("app.example.com", 8443)})), at(8443), False),
        (HstsTargets("never"), at(443), False),
        (HstsTargets("always"), at(443, protocol=Protocol.SMTP), False),
    ],
)
def test_which_endpoints_are_https(targets: HstsTargets, endpoint: Endpoint, wanted: bool) -> None:
    assert targets.wants(endpoint) is wanted


@pytest.mark.skipif(
    NGINX is None, reason="Debian's nginx is installed by scripts/install.sh --test"
)
def test_nginx_add_header_is_read_as_nginx_sends_it(served: Served) -> None:
    header = 'Strict-Transport-Security "max-age=63072000; includeSubDomains"'
    with nginx(served, ADDRESS, header) as port:
        observation = observe(port)
    assert observation.ok
    assert observation.hsts == Hsts(
        present=True, max_age=63072000, include_subdomains=True, preload=False, status=204
    )


# A fresh interpreter: forking the pytest process, which runs server threads, is unsafe.
POOL_SCRIPT = """
import json, sys
from ticketbridge.core.model import Endpoint
from ticketbridge.discovery.hsts import HstsTargets
from ticketbridge.discovery.tls import ProbeOptions
from ticketbridge.discovery.workers import WorkerPool

port = int(sys.argv[1])
endpoints = [Endpoint(f"n{i}.example.com", port, "127.0.0.17", f"n{i}.example.com") for i in range(8)]
pool = WorkerPool(2)
try:
    options = ProbeOptions(1.0, 2.0, hsts=HstsTargets("always"))
    observed = pool.probe(endpoints, options, concurrency=4, workers=2, extra_anchors=None,
                          verifier=lambda: None)
finally:
    pool.close()
print(json.dumps(sorted(o.hsts.max_age for o in observed if o.hsts)))
"""


def test_hsts_survives_the_probe_worker_processes(served: Served) -> None:
    with HTTPSServer(served, response(FULL_POLICY), ADDRESS) as server:
        result = subprocess.run(
            [sys.executable, "-c", POOL_SCRIPT, str(server.port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [31536000] * 8
