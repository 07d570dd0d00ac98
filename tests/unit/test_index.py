"""The run's indexed facts, seen through the decisions they drive: which failed probes may hide
a certificate, and the earliest expiry served at an endpoint (SPEC: failed probes never resolve)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from support.builders import NOW, WWW, cert_id, endpoint, failed, markers, served, ticket
from support.decide_kit import at, plan
from ticketbridge.core.inventory import InventoryPin
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


OLD_LB = "old-lb.example.net"


def early_www_ticket(tracked: tuple[str, ...]) -> object:
    # Due earlier than needed: only a failed probe that may serve it holds the later date back.
    return ticket(
        "OPS-1",
        "Renew www",
        due=SOON.date() - timedelta(days=30),
        labels=markers(WWW),
        tracked=tracked,
    )


@pytest.mark.parametrize(
    ("tracked", "failed_endpoint"),
    [
        # another address of a host the ticket tracked
        (f"{OLD_LB}:443@198.51.100.7", endpoint(OLD_LB, "198.51.100.8")),
        # ... written with a trailing dot and in capitals, as a resolver or a user may
        (f"{OLD_LB}:443@198.51.100.7", endpoint("OLD-LB.EXAMPLE.NET.", "198.51.100.8")),
        # an upper-case host ending in X, as written in a config file
        ("old-lb.example.box:443@198.51.100.7", endpoint("OLD-LB.EXAMPLE.BOX", "198.51.100.8")),
        # a tracked endpoint reached over IPv6: its address is bracketed after the `@`
        (f"{OLD_LB}:443@[2001:db8::7]", endpoint(OLD_LB, "2001:db8::8")),
        # a label edited in the ticket with a second `@` (a note appended, say): the host is what
        # precedes the first `@`, and the colons of an IPv6 address after it are no port
        (f"{OLD_LB}:443@[2001:db8::7]@dc2", endpoint(OLD_LB, "198.51.100.8")),
        # evidence written without a port (an older or hand-edited record)
        (OLD_LB, endpoint(OLD_LB, "198.51.100.8")),
        # an unresolved IPv6 literal host: its label is `host:port`, colons and all
        ("2001:db8::5:443", Endpoint(host="2001:db8::5", port=8443, address="", sni=None)),
    ],
)
def test_a_failure_on_a_tracked_host_holds_a_later_due_date_back(
    tracked: str, failed_endpoint: Endpoint
) -> None:
    down = replace(failed(LB, "198.51.100.9"), endpoint=failed_endpoint)
    observations = [served("www.example.com", "192.0.2.20", WWW, SOON), down]
    assert kinds(observations, [early_www_ticket((tracked,))]) == [("unobserved", "OPS-1")]


def test_a_failed_host_named_file_is_no_certificate_file() -> None:
    tracked = ("file:/etc/ssl/www.pem#0",)
    observations = [served("www.example.com", "192.0.2.20", WWW, SOON), failed("file", "10.0.0.9")]
    assert kinds(observations, [early_www_ticket(tracked)]) == [("update", "OPS-1")]


def test_a_ticket_tracking_an_unreadable_certificate_file_stays_open() -> None:
    unreadable = Observation(
        endpoint=Endpoint(
            host="/etc/ssl/www.pem", port=0, address="#0", sni=None, protocol=Protocol.FILE
        ),
        observed_at=NOW,
        status="error",
        error=ProbeError(kind=ErrorKind.FILE, message="unreadable"),
    )
    observations = [served("www.example.com", "192.0.2.20", WWW, RENEWED), unreadable]
    result = kinds(observations, [www_ticket(tracked=("file:/etc/ssl/www.pem#0",))])
    assert result == [("unobserved", "OPS-1")]


def test_an_endpoint_serving_a_renewal_counts_its_own_expiry_not_its_certificates() -> None:
    # The old name set's ticket tracked one node, which now serves the new name set renewed;
    # another node serves the new name set's older copy: that is the new ticket's business.
    new = ("www.example.com", "www2.example.com")
    observations = [
        served(LB, "198.51.100.1", new, RENEWED),
        served(LB, "198.51.100.2", new, SOON),
    ]
    result = kinds(observations, [www_ticket(tracked=(f"{LB}:443@198.51.100.1",))])
    assert result == [("create", None), ("resolve", "OPS-1")]


def test_name_sets_pinned_to_one_id_are_one_certificate() -> None:
    pins = [
        InventoryPin(names=WWW, id="00000000000000aa"),
        InventoryPin(names=("www2.example.com",), id="00000000000000aa"),
    ]
    observations = [
        served("www.example.com", "192.0.2.20", WWW, at(40)),
        served("www2.example.com", "192.0.2.21", ("www2.example.com",), SOON),
    ]
    (create,) = plan(observations, pins=pins).actions
    summary = create.certificate
    assert summary.id == "00000000000000aa"
    assert summary.names == ("www.example.com", "www2.example.com")
    assert summary.effective_not_after == SOON
    assert summary.endpoints == (
        "www.example.com:443@192.0.2.20",
        "www2.example.com:443@192.0.2.21",
    )
    assert len(summary.fingerprints) == 2
    assert [s.endpoint for s in summary.served] == list(summary.endpoints)
