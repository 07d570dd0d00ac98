"""`[[sources.kubernetes]]`: Ingress and Gateway API hosts as endpoints, `kubernetes.io/tls`
Secrets as certificates, from manifests or `kubectl get -o json` dumps."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ticketbridge.sources.base import CertificateData, Skipped, SourceError, SourceResult, Target
from ticketbridge.sources.yamlfile import line_of, load_documents

# The shapes, from the Kubernetes API reference (kubernetes.io/docs/reference/kubernetes-api/):
#  - Ingress (networking.k8s.io/v1): `spec.tls[].hosts` are the hosts served over TLS with
#    `secretName`'s certificate, on 443; `status.loadBalancer.ingress[].ip` is where.
#  - Secret of `type: kubernetes.io/tls` (kubernetes.io/docs/concepts/configuration/secret/
#    #tls-secrets): `data["tls.crt"]` is the base64 of the PEM chain, leaf first.
#  - `kubectl get -o json` prints a `kind: List` whose `items` are the objects.
# And from the Gateway API reference (gateway-api.sigs.k8s.io/reference/spec/, v1): a Gateway's
# `spec.listeners[]` have `port`, `protocol` (HTTPS and TLS terminate or pass TLS) and an
# optional `hostname`; a listener without one takes the `spec.hostnames` of the routes
# (HTTPRoute, TLSRoute, GRPCRoute) whose `parentRefs` name the Gateway (and `sectionName` the
# listener); `status.addresses[]` of type IPAddress are where the Gateway listens.
# A route attaches to a listener only as the reference's rules let it (reference/spec/ #listener,
# #allowedroutes, #parentreference, #httproutespec):
#  - a parentRef is a Gateway unless it names another `group`/`kind`, and its optional `port`
#    narrows the listeners as `sectionName` does;
#  - `allowedRoutes.namespaces.from` defaults to `Same`: a route in another namespace attaches
#    only under `All`, or `Selector` (namespace labels are not in manifests: taken as admitted);
#  - `allowedRoutes.kinds` defaults to the kinds the protocol takes: HTTPS takes HTTPRoute and
#    GRPCRoute, TLS takes TLSRoute;
#  - with a listener hostname, only the route hostnames that match it are served: a wildcard
#    `*.example.com` matches `a.example.com` and `a.b.example.com`, never `example.com`; a
#    precise listener hostname was listed already.
_TLS_LISTENERS = frozenset({"HTTPS", "TLS"})
_ROUTES = frozenset({"HTTPRoute", "TLSRoute", "GRPCRoute"})
_GATEWAY_GROUP = "gateway.networking.k8s.io"
_ROUTE_KINDS_BY_PROTOCOL = {
    "HTTPS": frozenset({"HTTPRoute", "GRPCRoute"}),
    "TLS": frozenset({"TLSRoute"}),
}


def read_manifests(path: Path, *, label: str) -> SourceResult:
    """The endpoints and certificates of one manifest file; a broken one names file and line."""
    objects = list(_objects(path, load_documents(path)))
    result = SourceResult(source=label)
    gateways = {
        (_namespace(item), _name(item)): item for item in objects if item.get("kind") == "Gateway"
    }
    for item in objects:
        kind = item.get("kind")
        if kind == "Ingress":
            _ingress(item, label, result)
        elif kind == "Gateway":
            _gateway_listeners(item, label, result)
        elif kind in _ROUTES:
            _route(item, gateways, label, result)
        elif kind == "Secret" and item.get("type") == "kubernetes.io/tls":
            result.certificates.append(_secret(path, item, label))
    return result


def _objects(path: Path, documents: list[Any]) -> Iterator[dict[str, Any]]:
    for document in documents:
        if not isinstance(document, dict) or not isinstance(document.get("kind"), str):
            raise SourceError(f"{path}: {line_of(document)}not a Kubernetes object (no `kind`)")
        if document["kind"].endswith("List") and isinstance(document.get("items"), list):
            yield from _objects(path, document["items"])
        else:
            yield document


def _namespace(item: dict[str, Any]) -> str:
    return str(_at(item, "metadata", "namespace") or "default")


def _name(item: dict[str, Any]) -> str:
    return str(_at(item, "metadata", "name") or "")


def _at(item: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _add_host(
    host: Any, port: int, addresses: tuple[str, ...], label: str, result: SourceResult
) -> None:
    if not isinstance(host, str) or not host:
        return
    host = host.lower().rstrip(".")
    if host.startswith("*."):
        result.skipped.append(Skipped(host, "wildcard host: no one name to probe", label))
        return
    result.targets.append(Target(host=host, port=port, source=label, addresses=addresses, sni=host))


def _ips(entries: Any, key: str) -> tuple[str, ...]:
    found = []
    for entry in _list(entries):
        value = _at(entry, key)
        if isinstance(value, str) and _at(entry, "type") in (None, "IPAddress"):
            try:
                found.append(str(ipaddress.ip_address(value)))
            except ValueError:
                continue  # a load balancer's host name: the resolver answers for the host
    return tuple(dict.fromkeys(found))


def _ingress(item: dict[str, Any], label: str, result: SourceResult) -> None:
    addresses = _ips(_at(item, "status", "loadBalancer", "ingress"), "ip")
    rule_hosts = [_at(rule, "host") for rule in _list(_at(item, "spec", "rules"))]
    for entry in _list(_at(item, "spec", "tls")):
        # A TLS entry without hosts covers the rules' hosts (the controller's default).
        for host in _list(_at(entry, "hosts")) or rule_hosts:
            _add_host(host, 443, addresses, label, result)


def _tls_listeners(gateway: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        listener
        for listener in _list(_at(gateway, "spec", "listeners"))
        if isinstance(listener, dict)
        and listener.get("protocol") in _TLS_LISTENERS
        and isinstance(listener.get("port"), int)
    ]


def _gateway_addresses(gateway: dict[str, Any]) -> tuple[str, ...]:
    return _ips(_at(gateway, "status", "addresses"), "value") or _ips(
        _at(gateway, "spec", "addresses"), "value"
    )


def _gateway_listeners(gateway: dict[str, Any], label: str, result: SourceResult) -> None:
    addresses = _gateway_addresses(gateway)
    for listener in _tls_listeners(gateway):
        if listener.get("hostname"):
            _add_host(listener["hostname"], listener["port"], addresses, label, result)


def _route(
    route: dict[str, Any],
    gateways: dict[tuple[str, str], dict[str, Any]],
    label: str,
    result: SourceResult,
) -> None:
    hostnames = [h.lower() for h in _list(_at(route, "spec", "hostnames")) if isinstance(h, str)]
    for parent in _list(_at(route, "spec", "parentRefs")):
        if not isinstance(parent, dict) or not _names_a_gateway(parent):
            continue
        key = (str(parent.get("namespace") or _namespace(route)), str(parent.get("name")))
        gateway = gateways.get(key)
        if gateway is None:
            continue  # a Gateway not in these manifests: its listeners are unknown here
        for listener in _tls_listeners(gateway):
            if _admits(listener, gateway, route, parent):
                for host in _served_hostnames(listener, hostnames):
                    _add_host(host, listener["port"], _gateway_addresses(gateway), label, result)


def _names_a_gateway(parent: dict[str, Any]) -> bool:
    # An absent group is the Gateway API's; an empty one is the core group (a Service, say).
    return bool(
        parent.get("group", _GATEWAY_GROUP) == _GATEWAY_GROUP
        and parent.get("kind", "Gateway") == "Gateway"
    )


def _admits(
    listener: dict[str, Any], gateway: dict[str, Any], route: dict[str, Any], parent: dict[str, Any]
) -> bool:
    section, port = parent.get("sectionName"), parent.get("port")
    if (section and listener.get("name") != section) or (port and listener["port"] != port):
        return False
    listed = _list(_at(listener, "allowedRoutes", "kinds"))
    kinds = (
        {
            kind.get("kind")
            for kind in listed
            if isinstance(kind, dict) and kind.get("group", _GATEWAY_GROUP) == _GATEWAY_GROUP
        }
        if listed
        else _ROUTE_KINDS_BY_PROTOCOL[listener["protocol"]]
    )
    if route.get("kind") not in kinds:
        return False
    admitted = _at(listener, "allowedRoutes", "namespaces", "from") or "Same"
    if admitted == "Same":
        return _namespace(route) == _namespace(gateway)
    return admitted in ("All", "Selector")


def _served_hostnames(listener: dict[str, Any], hostnames: list[str]) -> list[str]:
    own = str(listener.get("hostname") or "").lower()
    if not own:
        return hostnames
    if own.startswith("*."):
        return [host for host in hostnames if host != own and host.endswith(own[1:])]
    return []  # a precise listener hostname was listed itself


def _secret(path: Path, secret: dict[str, Any], label: str) -> CertificateData:
    where = f"{path}: {line_of(secret)}Secret {_namespace(secret)}/{_name(secret)}"
    encoded = _at(secret, "data", "tls.crt")
    plain = _at(secret, "stringData", "tls.crt")
    if isinstance(encoded, str):
        try:
            pem = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SourceError(f"{where}: data.tls.crt is not base64") from None
    elif isinstance(plain, str):
        pem = plain.encode("utf-8")
    else:
        raise SourceError(f"{where}: a kubernetes.io/tls Secret has no tls.crt")
    return CertificateData(
        label=f"{path}#secret/{_namespace(secret)}/{_name(secret)}", pem=pem, source=label
    )
