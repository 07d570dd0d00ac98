"""`[[sources.prometheus]]`: Prometheus file_sd target files (JSON or YAML), as blackbox_exporter's
`tcp_tls` and `http` probes use them, to endpoints."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ticketbridge.core.model import Protocol
from ticketbridge.sources.base import Skipped, SourceError, SourceResult, Target
from ticketbridge.sources.yamlfile import line_of, load_documents

# The format, from Prometheus' configuration reference (prometheus.io/docs/prometheus/latest/
# configuration/configuration/#file_sd_config): a file is a list of static configs, each
# `{"targets": ["<host>", ...], "labels": {...}}`, in JSON (`.json`) or YAML (`.yml`, `.yaml`);
# `<host>` is `host:port` or a bare host. blackbox_exporter's `http` module takes a URL as its
# target (github.com/prometheus/blackbox_exporter, README "Prometheus Configuration"), so a
# target with a scheme is a URL: `https://` is TLS on its port (443 by default), `http://` is
# not TLS and is reported, not probed.


def read_file_sd(path: Path, *, default_port: int, protocol: Protocol, label: str) -> SourceResult:
    """The endpoints of one file_sd file; a broken file names the file (and line, for YAML)."""
    documents = load_documents(path)
    groups: Any = documents[0] if len(documents) == 1 else None
    if not isinstance(groups, list):
        raise SourceError(f"{path}: a file_sd file is a list of {{targets, labels}} groups")
    result = SourceResult(source=label)
    for index, group in enumerate(groups):
        where = line_of(group) or f"group {index}: "
        targets = group.get("targets") if isinstance(group, dict) else None
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise SourceError(f"{path}: {where}`targets` must be a list of strings")
        for text in targets:
            parsed = _target(text, default_port, protocol, label)
            if parsed is None:
                raise SourceError(f"{path}: {where}target {text!r} is not host, host:port or URL")
            if isinstance(parsed, Skipped):
                result.skipped.append(parsed)
            else:
                result.targets.append(parsed)
    return result


def _target(
    text: str, default_port: int, protocol: Protocol, label: str
) -> Target | Skipped | None:
    text = text.strip()
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme.lower() != "https":
            return Skipped(text, f"{parts.scheme}:// is not TLS", label)
        host, port = parts.hostname, _port_of(parts)
        return _endpoint(host, port if port is not None else 443, Protocol.TLS, label)
    try:
        parts = urlsplit(f"//{text}")
        return _endpoint(parts.hostname, _port_of(parts) or default_port, protocol, label)
    except ValueError:
        return None


def _port_of(parts: Any) -> int | None:
    try:
        port = parts.port
    except ValueError:
        return -1
    return int(port) if port is not None else None


def _endpoint(host: str | None, port: int, protocol: Protocol, label: str) -> Target | None:
    if not host or not 0 < port < 65536:
        return None
    host = host.lower()
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        return Target(host=host, port=port, source=label, sni=host, protocol=protocol)
    return Target(host=address, port=port, source=label, addresses=(address,), protocol=protocol)
