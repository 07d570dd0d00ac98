"""The run's indexed facts, seen through the decisions they drive: which failed probes may hide
a certificate, and the earliest expiry served at an endpoint (SPEC: failed probes never resolve)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from builders import NOW, WWW, cert_id, endpoint, failed, markers, served, ticket
from decide_kit import at, plan

from ticketbridge.core.model import Endpoint, ErrorKind, Observation, ProbeError, Protocol

RENEWED, SOON = at(300), at(30)
LB = "lb.example.net"


def www_ticket(tracked: tuple[str, ...] = ()) -> object:
    return ticket("OPS-1", "Renew www", due=SOON.date(), labels=markers(WWW), tracked=tracked)


def kinds(observations: list[Observation], tickets: list[object]) -> list[tuple[str, str | None]]:
    return [(str(a.kind), a.ticket) for a in plan(observations, tickets).actions]  # type: ignore[arg-type]


def test_a_failed_node_of_a_host_serving_the_certificate_under_another_name_blocks_it() -> None:
    # www's certificate is served at the load balancer's own name, which the certificate lacks.
    observations = [served(LB, "198.51.100.1", WWW, RENEWED), failed(LB, "198.51.100.2")]
    assert kinds(observations, [www_ticket()]) == [("unobserved", "OPS-1")]


def test_a_failed_host_the_certificate_names_exactly_blocks_a_ticket_without_endpoints() -> None:
    observations = [
        served(LB, "198.51.100.1", WWW, RENEWED),
        failed("www.example.com", "192.0.2.20"),
    ]
    assert kinds(observations, [www_ticket()]) == [("unobserved", "OPS-1")]


def test_a_failed_certificate_file_hides_no_later_failure() -> None:
    unreadable = Observation(
        endpoint=Endpoint(
            host="/etc/ssl/a.pem", port=0, address="#0", sni=None, protocol=Protocol.FILE
        ),
        observed_at=NOW,
        status="error",
        error=ProbeError(kind=ErrorKind.FILE, message="unreadable"),
    )
    observations = [
        served(LB, "198.51.100.1", WWW, RENEWED),
        unreadable,
        failed(LB, "198.51.100.2"),
    ]
    assert kinds(observations, [www_ticket()]) == [("unobserved", "OPS-1")]


@pytest.mark.parametrize("other", [("a.example.org",), ("z.example.org",)])
def test_an_endpoint_seen_serving_two_certificates_counts_the_earlier(
    other: tuple[str, ...],
) -> None:
    # Two scanners saw the same endpoint mid-deployment: one the renewal, one another certificate.
    # Whichever certificate is indexed last, the endpoint still serves something expiring soon.
    label = f"{LB}:443@198.51.100.1"
    observations = [
        served(LB, "198.51.100.1", WWW, RENEWED),
        served(LB, "198.51.100.1", other, SOON),
    ]
    result = kinds(observations, [www_ticket(tracked=(label,))])
    assert result == [("create", None)]
    assert cert_id(other) != cert_id(WWW)


def test_a_failure_at_the_ticket_endpoints_host_blocks_it_by_host() -> None:
    # The ticket tracked one node of the load balancer; this run another node of it failed.
    label = f"{LB}:443@198.51.100.1"
    observations = [served(LB, "198.51.100.1", WWW, RENEWED), failed(LB, "198.51.100.3")]
    assert kinds(observations, [www_ticket(tracked=(label,))]) == [("unobserved", "OPS-1")]


def test_a_ticket_endpoint_without_port_is_matched_by_host() -> None:
    # An endpoint whose name did not resolve is labelled `host:port` without an address.
    moved = replace(failed(LB, ""), endpoint=endpoint(LB, ""))
    observations = [served("www.example.com", "192.0.2.20", WWW, RENEWED), moved]
    assert kinds(observations, [www_ticket(tracked=(f"{LB}:443",))]) == [("unobserved", "OPS-1")]
