"""octoDNS, Prometheus file_sd and Kubernetes sources on files in their documented formats, held
against the formats' own tools where one exists (octoDNS's YamlProvider, the Kubernetes schema)."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from support.certs import make_fullchain
from support.gateway_validation import validate_gateway_objects
from ticketbridge.core.model import Protocol
from ticketbridge.sources.base import SourceError
from ticketbridge.sources.kubernetes import read_manifests
from ticketbridge.sources.octodns import read_octodns
from ticketbridge.sources.prometheus import read_file_sd

DATA = Path(__file__).resolve().parents[1] / "data" / "sources"


def test_an_octodns_zone_reads_as_octodns_itself_reads_it() -> None:
    from octodns.provider.yaml import YamlProvider
    from octodns.zone import Zone

    logging.getLogger("octodns").setLevel(logging.ERROR)
    oracle = Zone("example.org.", [])
    YamlProvider(
        "config", str(DATA / "octodns"), enforce_order=True, escaped_semicolons=False
    ).populate(oracle)
    expected = {
        (f"{r.name}.example.org" if r.name else "example.org"): list(r.values)
        for r in oracle.records
        if r._type in ("A", "AAAA")
    }

    path = DATA / "octodns" / "example.org.yaml"
    result = read_octodns(path, zone="", ports=[443], label="octodns:example.org.yaml")
    ours = {t.host: list(t.addresses) for t in result.targets if t.port == 443}
    for host, addresses in expected.items():
        assert ours[host] == addresses
    # www is a CNAME to the apex: followed in the zone; cdn leaves it, so is resolved.
    assert ours["www.example.org"] == ["127.0.0.41", "127.0.0.42"]
    cdn = next(t for t in result.targets if t.host == "cdn.example.org")
    assert cdn.resolve_name == "edge.cdn.example.net" and cdn.sni == "cdn.example.org"
    assert (8443, "api.example.org") in {(t.port, t.host) for t in result.targets}
    assert [item.name for item in result.skipped] == ["*.example.org"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("www:\n  type: CNAME\n  value: example.org\n", "line 3: www.example.org: CNAME value"),
        ("www:\n  value: 1.2.3.4\n", "line 3: www.example.org: a record needs a `type`"),
        ("www:\n  type: A\n", "line 3: www.example.org: a A record has no value"),
        ("www: [unclosed\n", "invalid YAML"),
    ],
    ids=["no-trailing-dot", "no-type", "no-value", "syntax"],
)
def test_a_broken_octodns_zone_names_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "example.org.yaml"
    path.write_text("---\n" + text)
    with pytest.raises(SourceError) as raised:
        read_octodns(path, zone="", ports=[443], label="octodns:x")
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def test_file_sd_json_targets_as_blackbox_exporter_takes_them() -> None:
    result = read_file_sd(
        DATA / "prometheus" / "blackbox.json",
        default_port=443,
        protocol=Protocol.TLS,
        label="prometheus:blackbox.json",
    )
    got = {(t.host, t.port, t.addresses, t.sni) for t in result.targets}
    assert got == {
        ("app.example.com", 443, (), "app.example.com"),
        ("status.example.com", 443, (), "status.example.com"),  # https:// URL, default port
        ("127.0.0.51", 8443, ("127.0.0.51",), None),  # an address: probed there, no SNI
        ("api.example.com", 443, (), "api.example.com"),  # no port: the configured default
    }
    assert [item.name for item in result.skipped] == ["http://intranet.example.com/"]


def test_file_sd_yaml_with_starttls_and_ipv6() -> None:
    result = read_file_sd(
        DATA / "prometheus" / "mail.yml",
        default_port=25,
        protocol=Protocol.SMTP,
        label="prometheus:mail.yml",
    )
    assert {(t.host, t.port, t.protocol) for t in result.targets} == {
        ("mail.example.com", 587, Protocol.SMTP),
        ("::1", 587, Protocol.SMTP),
    }


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("t.json", '[{"targets": "a:1"}]', "group 0: `targets` must be a list"),
        ("t.json", '[{"targets": ["a:99999"]}]', "target 'a:99999' is not"),
        ("t.json", "[{", "line 1: invalid JSON"),
        ("t.yml", "- targets: [a:1]\n- labels: {}\n", "line 2: `targets` must be a list"),
        ("t.yml", "targets: [a]\n", "a file_sd file is a list"),
    ],
)
def test_a_broken_file_sd_names_file_and_where(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(SourceError) as raised:
        read_file_sd(path, default_port=443, protocol=Protocol.TLS, label="prometheus:x")
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def _manifests(chain_pem: bytes) -> list[dict[str, Any]]:
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "shop", "namespace": "shop"},
        "spec": {
            "tls": [{"hosts": ["shop.example.com", "*.shop.example.com"], "secretName": "shop"}],
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.61"}]}},
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "shop", "namespace": "shop"},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(chain_pem).decode(),
            "tls.key": base64.b64encode(b"not read").decode(),
        },
    }
    return [ingress, secret]


def _gateway_api() -> list[dict[str, Any]]:
    # Gateway API v1 (gateway-api.sigs.k8s.io/reference/spec/), held against its own schema by
    # support.gateway_validation. A terminating listener names its certificate (the CRD's rule
    # "certificateRefs or options must be specified when mode is Terminate"), and a route from
    # another namespace attaches only where `allowedRoutes` lets it (the default is `Same`).
    gateway = {
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
                    "tls": {"mode": "Terminate", "certificateRefs": [{"name": "edge-https"}]},
                    "allowedRoutes": {"namespaces": {"from": "All"}},
                },
                {
                    "name": "admin",
                    "port": 9443,
                    "protocol": "HTTPS",
                    "hostname": "admin.example.com",
                    "tls": {"certificateRefs": [{"kind": "Secret", "name": "admin"}]},
                },
            ],
        },
        "status": {"addresses": [{"type": "IPAddress", "value": "127.0.0.62"}]},
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "docs", "namespace": "docs"},
        "spec": {
            "parentRefs": [{"name": "edge", "namespace": "infra", "sectionName": "https"}],
            "hostnames": ["docs.example.com"],
        },
    }
    return [gateway, route]


def test_kubernetes_manifests_valid_against_the_api_schema_give_hosts_and_secrets(
    tmp_path: Path,
) -> None:
    leaf, intermediate, _ = make_fullchain(("shop.example.com",))
    core = _manifests(leaf.pem + intermediate.pem)
    for item in core:
        kubernetes_validate.validate(item, kubernetes_validate.latest_version(), strict=True)
    validate_gateway_objects(_gateway_api())
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all([*core, *_gateway_api()]))

    result = read_manifests(path, label="kubernetes:shop.yaml")

    got = {(t.host, t.port, t.addresses) for t in result.targets}
    assert got == {
        ("shop.example.com", 443, ("127.0.0.61",)),
        ("admin.example.com", 9443, ("127.0.0.62",)),
        ("docs.example.com", 443, ("127.0.0.62",)),
    }
    assert [item.name for item in result.skipped] == ["*.shop.example.com"]
    (secret,) = result.certificates
    assert secret.label == f"{path}#secret/shop/shop"
    assert secret.pem == leaf.pem + intermediate.pem


def test_a_kubectl_json_dump_is_a_list_of_the_same_objects(tmp_path: Path) -> None:
    leaf, _intermediate, _ = make_fullchain(("shop.example.com",))
    dump = {"apiVersion": "v1", "kind": "List", "items": _manifests(leaf.pem), "metadata": {}}
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(dump))
    result = read_manifests(path, label="kubernetes:dump.json")
    assert [t.host for t in result.targets] == ["shop.example.com"]
    assert len(result.certificates) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ntype: kubernetes.io/tls\n"
            "data:\n  tls.crt: '!!not base64'\n",
            "line 1: Secret default/x: data.tls.crt is not base64",
        ),
        ("kind: Ingress\n---\nfoo: bar\n", "line 3: not a Kubernetes object (no `kind`)"),
        ("kind: Ingress\n  spec: [\n", "invalid YAML"),
    ],
    ids=["secret", "no-kind", "syntax"],
)
def test_a_broken_manifest_names_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SourceError) as raised:
        read_manifests(path, label="kubernetes:x")
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)
