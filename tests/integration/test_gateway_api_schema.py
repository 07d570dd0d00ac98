"""The Gateway API schema check the Kubernetes-source tests rest on (support.gateway_validation):
it passes the reference's own shapes and rejects what the Gateway API rejects, naming the object,
the field and the rule."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

import support.gateway_validation as gateway_validation
from support.gateway_validation import (
    INVALID,
    UNKNOWN_KIND,
    VALID,
    check_gateway_objects,
    validate_gateway_objects,
)

HOSTNAME_PATTERN = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
NOT_A_HOSTNAME = f'/spec/hostnames/0 must match pattern "{HOSTNAME_PATTERN}"'


def _gateway() -> dict[str, Any]:
    # Shaped after gateway-api.sigs.k8s.io/reference/spec/#gateway and its TLS guide's example.
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge", "namespace": "infra"},
        "spec": {
            "gatewayClassName": "example",
            "listeners": [
                {"name": "http", "port": 80, "protocol": "HTTP"},
                {
                    "name": "https",
                    "port": 443,
                    "protocol": "HTTPS",
                    "hostname": "*.example.com",
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "wildcard"}]},
                },
                {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
            ],
        },
    }


def _route() -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "docs", "namespace": "docs"},
        "spec": {
            "parentRefs": [{"name": "edge", "namespace": "infra", "sectionName": "https"}],
            "hostnames": ["docs.example.com"],
            "rules": [{"backendRefs": [{"name": "docs", "port": 8080}]}],
        },
    }


def test_the_references_shapes_pass() -> None:
    verdict = check_gateway_objects([_gateway(), _route()])
    assert (verdict.returncode, verdict.lines) == (VALID, ())
    validate_gateway_objects([_gateway(), _route()])


def test_maps_selectors_and_status_as_a_cluster_returns_them_pass() -> None:
    # Fields of many types at once, so the unknown-field check is seen to know them all: label
    # and annotation maps, a label selector, TLS options, status conditions and managedFields.
    gateway = _gateway()
    gateway["metadata"] |= {
        "labels": {"team": "edge"},
        "annotations": {"example.com/owner": "edge"},
        "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
    }
    listeners = gateway["spec"]["listeners"]
    listeners[1]["tls"]["options"] = {"example.com/min-version": "1.2"}
    listeners[1]["allowedRoutes"] = {
        "namespaces": {
            "from": "Selector",
            "selector": {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a"]}]},
        },
        "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
    }
    condition = {
        "type": "Accepted",
        "status": "True",
        "reason": "Accepted",
        "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
    gateway["status"] = {
        "addresses": [{"type": "IPAddress", "value": "127.0.0.62"}],
        "conditions": [condition],
    }
    route = _route()
    route["spec"]["rules"][0] |= {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "filters": [
            {
                "type": "RequestHeaderModifier",
                "requestHeaderModifier": {"set": [{"name": "x-edge", "value": "1"}]},
            }
        ],
    }
    verdict = check_gateway_objects([gateway, route])
    assert (verdict.returncode, verdict.lines) == (VALID, ())


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    *parents, last = path.split(".")
    target: Any = changed
    for key in parents:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is None:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # Hostname (reference #hostname): a wildcard label `*.` may only prefix a name; a bare
        # `*` is no hostname. The CRD's pattern says so.
        ("spec.hostnames", ["*"], NOT_A_HOSTNAME),
        # RFC 1123 labels as the reference words them: lower case only.
        ("spec.hostnames", ["Docs.example.com"], NOT_A_HOSTNAME),
        # ParentReference (reference #parentreference): `name` is the one required field.
        ("spec.parentRefs.0.name", None, "/spec/parentRefs/0 must have required property name"),
        # PortNumber (reference #portnumber): Minimum=1, Maximum=65535.
        ("spec.parentRefs.0.port", 70000, "/spec/parentRefs/0/port must be <= 65535"),
        # A misspelt field: `kubectl apply` validates strictly by default (KEP-2885, unknown
        # field validation, stable in Kubernetes 1.27) and the API server refuses it.
        (
            "spec.parentRefs.0.sectioName",
            "https",
            '/spec/parentRefs/0 has unknown field "sectioName"',
        ),
        ("metadata.nmae", "docs", '/metadata has unknown field "nmae"'),
    ],
    ids=["bare-wildcard", "upper-case", "parent-without-name", "port-70000", "typo", "meta-typo"],
)
def test_a_wrong_httproute_is_rejected_naming_route_field_and_rule(
    path: str, value: Any, expected: str
) -> None:
    verdict = check_gateway_objects([_set(_route(), path, value)])
    assert verdict.returncode == INVALID
    assert verdict.lines == (f"HTTPRoute docs/docs: {expected}",), verdict.report
    with pytest.raises(AssertionError, match="HTTPRoute docs/docs: "):
        validate_gateway_objects([_set(_route(), path, value)])


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # The CRD's CEL rules (gateway-api apis/v1/gateway_types.go, XValidation markers on
        # ListenerTLSConfig and GatewaySpec.Listeners; reference #listenertlsconfig, #listener).
        (
            "spec.listeners.1.tls",
            {"mode": "Terminate"},
            "/spec/listeners/1/tls certificateRefs or options must be specified when mode is "
            "Terminate",
        ),
        # mode defaults to Terminate (`+kubebuilder:default=Terminate`), so an empty tls breaks
        # the same rule.
        (
            "spec.listeners.1.tls",
            {},
            "/spec/listeners/1/tls certificateRefs or options must be specified when mode is "
            "Terminate",
        ),
        (
            "spec.listeners.0.tls",
            {"mode": "Passthrough"},
            "/spec/listeners tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']",
        ),
        (
            "spec.listeners.1.tls.mode",
            "Passthrough",
            "/spec/listeners tls mode must be Terminate for protocol HTTPS",
        ),
        ("spec.listeners.2.name", "https", "/spec/listeners Listener name must be unique within "),
        # Listener.port is a PortNumber too.
        ("spec.listeners.0.port", 0, "/spec/listeners/0/port must be >= 1"),
        (
            "spec.listeners.1.tls.certificateRefs.0.nme",
            "x",
            '/spec/listeners/1/tls/certificateRefs/0 has unknown field "nme"',
        ),
    ],
    ids=[
        "terminate-no-cert",
        "tls-empty",
        "http-with-tls",
        "https-passthrough",
        "dup-name",
        "port-0",
        "typo",
    ],
)
def test_a_wrong_gateway_is_rejected_naming_gateway_field_and_rule(
    path: str, value: Any, expected: str
) -> None:
    verdict = check_gateway_objects([_set(_gateway(), path, value)])
    assert verdict.returncode == INVALID
    assert [line for line in verdict.lines if line.startswith(f"Gateway infra/edge: {expected}")]
    assert all(line.startswith("Gateway infra/edge: /spec/listeners") for line in verdict.lines)


def test_every_error_of_every_object_in_one_run() -> None:
    bad_route = _set(_set(_route(), "spec.hostnames", ["*"]), "spec.parentRefs.0.port", 0)
    bad_gateway = _set(_gateway(), "spec.listeners.1.tls", {})
    verdict = check_gateway_objects([bad_route, _route(), bad_gateway])
    assert verdict.returncode == INVALID
    assert [line.split(" must ")[0] for line in verdict.lines] == [
        "HTTPRoute docs/docs: /spec/parentRefs/0/port",
        "HTTPRoute docs/docs: /spec/hostnames/0",
        "Gateway infra/edge: /spec/listeners/1/tls certificateRefs or options",
    ]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("networking.k8s.io/v1", "Ingress"),  # a core kind: kubernetes-validate's business
        ("gateway.networking.k8s.io/v1", "Listener"),  # a part of a Gateway, not a kind
        ("gateway.networking.k8s.io/v9", "Gateway"),  # no such version
    ],
)
def test_an_unknown_kind_is_an_error_of_its_own(api_version: str, kind: str) -> None:
    item = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    verdict = check_gateway_objects([_route(), item])
    assert verdict.returncode == UNKNOWN_KIND
    assert verdict.lines == (f"{kind} x: unknown kind {api_version} {kind}",)


def test_without_node_the_check_skips_naming_the_install_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(pytest.skip.Exception, match=r"needs node: run scripts/install\.sh --test"):
        check_gateway_objects([_route()])


def test_without_the_package_the_check_skips_naming_the_install_step(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(gateway_validation, "SCHEMA_DIR", tmp_path)
    with pytest.raises(pytest.skip.Exception, match=r"not installed: run scripts/install\.sh"):
        check_gateway_objects([_route()])
