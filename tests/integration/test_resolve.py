"""Endpoint expansion: every address of a name, explicit addresses, SNI rules, local DNS failures."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime

from ticketbridge.core.model import ErrorKind, Protocol
from ticketbridge.discovery.resolve import EndpointSpec, resolve_endpoints

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


def test_every_address_of_a_name_becomes_an_endpoint_with_the_name_as_sni() -> None:
    expected = list(
        dict.fromkeys(
            info[4][0] for info in socket.getaddrinfo("localhost", 443, type=socket.SOCK_STREAM)
        )
    )
    resolution = asyncio.run(
        resolve_endpoints([EndpointSpec("localhost", 443)], all_addresses=True, observed_at=NOW)
    )
    assert [e.address for e in resolution.endpoints] == expected
    assert {e.sni for e in resolution.endpoints} == {"localhost"}
    first_only = asyncio.run(
        resolve_endpoints([EndpointSpec("localhost", 443)], all_addresses=False, observed_at=NOW)
    )
    assert [e.address for e in first_only.endpoints] == expected[:1]


def test_explicit_addresses_sni_override_and_ip_literals() -> None:
    specs = [
        EndpointSpec("app.example.com", 443, addresses=("127.0.0.10", "::1")),
        EndpointSpec("lb.example.com", 8443, addresses=("127.0.0.11",), sni="app.example.com"),
        EndpointSpec("127.0.0.12", 993, protocol=Protocol.IMAP),
        EndpointSpec("app.example.com", 443, addresses=("127.0.0.10",)),  # duplicate: probed once
    ]
    resolution = asyncio.run(resolve_endpoints(specs, all_addresses=True, observed_at=NOW))
    assert [e.label for e in resolution.endpoints] == [
        "app.example.com:443@127.0.0.10",
        "app.example.com:443@[::1]",
        "lb.example.com:8443@127.0.0.11",
        "127.0.0.12:993@127.0.0.12",
    ]
    assert [e.sni for e in resolution.endpoints] == [
        "app.example.com",
        "app.example.com",
        "app.example.com",
        None,
    ]
    assert resolution.endpoints[3].protocol is Protocol.IMAP
    assert resolution.failures == ()


def test_a_name_that_cannot_resolve_is_a_dns_observation() -> None:
    # An empty label fails in the IDNA codec before any query leaves the machine.
    resolution = asyncio.run(
        resolve_endpoints(
            [EndpointSpec("bad..example.com", 443)], all_addresses=True, observed_at=NOW
        )
    )
    assert resolution.endpoints == ()
    (failure,) = resolution.failures
    assert failure.status == "error" and failure.error is not None
    assert failure.error.kind is ErrorKind.DNS
    assert failure.endpoint.label == "bad..example.com:443"
