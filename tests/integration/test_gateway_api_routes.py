"""Which route hostnames the Kubernetes source lists on which Gateway listener, by the Gateway
API's attachment rules, on manifests that the Gateway API's own schema accepts first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from support.gateway_validation import validate_gateway_objects
from ticketbridge.sources.kubernetes import read_manifests

V1 = "gateway.networking.k8s.io/v1"
CERT = {"certificateRefs": [{"name": "edge-cert"}]}


def _gateway(*listeners: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "infra"},
        "spec": {"gatewayClassName": "example", "listeners": list(listeners)},
        "status": {"addresses": [{"type": "IPAddress", "value": "127.0.0.63"}]},
    }


def _https(name: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "port": port, "protocol": "HTTPS", "tls": CERT, **extra}


def _route(
    hostnames: list[str], *, namespace: str = "infra", route_kind: str = "HTTPRoute", **parent: Any
) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": route_kind,
        "metadata": {"name": f"r{len(hostnames)}", "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": "edge", "namespace": "infra", **parent}],
            "hostnames": hostnames,
            # TLSRoute v1 requires rules; every route kind takes this one.
            "rules": [{"backendRefs": [{"name": "web", "port": 8443}]}],
        },
    }


def _listed(
    tmp_path: Path, objects: list[dict[str, Any]]
) -> tuple[set[tuple[str, int]], list[str]]:
    validate_gateway_objects(objects)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump_all(objects))
    result = read_manifests(path, label="kubernetes:gateway.yaml")
    assert {t.addresses for t in result.targets} <= {("127.0.0.63",)}
    return {(t.host, t.port) for t in result.targets}, [s.name for s in result.skipped]


def test_a_wildcard_listener_serves_the_route_hostnames_it_matches(tmp_path: Path) -> None:
    # Listener.hostname (reference #listener): `*.example.com` is a suffix match — it takes
    # test.example.com and foo.test.example.com, not example.com; HTTPRouteSpec.hostnames
    # (#httproutespec): route hostnames that do not match the listener's MUST be ignored.
    gateway = _gateway(_https("wild", 443, hostname="*.example.com"))
    route = _route(
        [
            "docs.example.com",
            "a.b.example.com",
            "example.com",
            "docs.example.net",
            "*.api.example.com",
        ]
    )
    targets, skipped = _listed(tmp_path, [gateway, route])
    assert targets == {("docs.example.com", 443), ("a.b.example.com", 443)}
    assert skipped == ["*.example.com", "*.api.example.com"]


def test_a_precise_listener_hostname_is_listed_once_whatever_the_routes_say(
    tmp_path: Path,
) -> None:
    gateway = _gateway(_https("admin", 9443, hostname="admin.example.com"))
    targets, _ = _listed(tmp_path, [gateway, _route(["admin.example.com", "other.example.com"])])
    assert targets == {("admin.example.com", 9443)}


@pytest.mark.parametrize(
    ("allowed", "namespace", "listed"),
    [
        # AllowedRoutes.namespaces.from (reference #routenamespaces) defaults to Same.
        (None, "infra", True),
        (None, "docs", False),
        ({"namespaces": {"from": "Same"}}, "docs", False),
        ({"namespaces": {"from": "All"}}, "docs", True),
        # Selector matches namespace labels, which manifests do not carry: admitted.
        (
            {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"a": "b"}}}},
            "docs",
            True,
        ),
    ],
    ids=["same-default", "other-default", "other-same", "other-all", "other-selector"],
)
def test_a_route_from_another_namespace_attaches_only_where_allowed(
    tmp_path: Path, allowed: dict[str, Any] | None, namespace: str, listed: bool
) -> None:
    listener = _https("https", 443, **({"allowedRoutes": allowed} if allowed else {}))
    targets, _ = _listed(
        tmp_path, [_gateway(listener), _route(["docs.example.com"], namespace=namespace)]
    )
    assert targets == ({("docs.example.com", 443)} if listed else set())


def test_a_parent_ref_port_picks_the_listeners_on_that_port(tmp_path: Path) -> None:
    # ParentReference.port (reference #parentreference): the route targets the listeners on it.
    gateway = _gateway(_https("https", 443), _https("alt", 8443))
    targets, _ = _listed(tmp_path, [gateway, _route(["docs.example.com"], port=8443)])
    assert targets == {("docs.example.com", 8443)}


@pytest.mark.parametrize(
    ("kind", "listener", "listed"),
    [
        # AllowedRoutes.kinds (reference #allowedroutes) defaults to the kinds of the protocol.
        (
            "HTTPRoute",
            {"name": "tls", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
            False,
        ),
        (
            "TLSRoute",
            {"name": "tls", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
            True,
        ),
        ("TLSRoute", _https("https", 443), False),
        ("GRPCRoute", _https("https", 443), True),
        (
            "HTTPRoute",
            _https("https", 443, allowedRoutes={"kinds": [{"kind": "GRPCRoute"}]}),
            False,
        ),
        # RouteGroupKind.group defaults to gateway.networking.k8s.io; another group's HTTPRoute
        # is another kind.
        (
            "HTTPRoute",
            _https(
                "https",
                443,
                allowedRoutes={"kinds": [{"group": "example.com", "kind": "HTTPRoute"}]},
            ),
            False,
        ),
    ],
    ids=[
        "http-on-tls",
        "tls-on-tls",
        "tls-on-https",
        "grpc-on-https",
        "http-not-in-kinds",
        "other-group",
    ],
)
def test_a_listener_takes_only_the_route_kinds_it_allows(
    tmp_path: Path, kind: str, listener: dict[str, Any], listed: bool
) -> None:
    targets, _ = _listed(
        tmp_path, [_gateway(listener), _route(["docs.example.com"], route_kind=kind)]
    )
    assert targets == ({("docs.example.com", 443)} if listed else set())


def test_a_parent_that_is_not_a_gateway_attaches_to_no_listener(tmp_path: Path) -> None:
    # ParentReference.group: "" is the core group, so this parent is the Service named edge.
    route = _route(["docs.example.com"], group="", kind="Service")
    targets, _ = _listed(tmp_path, [_gateway(_https("https", 443)), route])
    assert targets == set()
