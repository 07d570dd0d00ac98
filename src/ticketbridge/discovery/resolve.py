"""Configured endpoints to concrete probe targets: every A and AAAA address of every host."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from ticketbridge.core.model import (
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    Protocol,
    is_ip_literal,
)


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """One `[[endpoints]]` entry, before resolution."""

    host: str
    port: int = 443
    addresses: tuple[str, ...] = ()
    sni: str | None = None
    protocol: Protocol = Protocol.TLS
    source: str | None = None  # where it was listed, when not in `[[endpoints]]`
    # The name to resolve when it is not `host`: a zone's CNAME target outside the zone.
    resolve_name: str | None = None

    @property
    def server_name(self) -> str | None:
        """SNI: the override, else the host — except that an IP-literal host sends none."""
        if self.sni:
            return self.sni
        return None if is_ip_literal(self.host) else self.host


@dataclass(frozen=True, slots=True)
class Resolution:
    endpoints: tuple[Endpoint, ...]
    failures: tuple[Observation, ...]


def _endpoint(spec: EndpointSpec, address: str) -> Endpoint:
    return Endpoint(
        host=spec.host,
        port=spec.port,
        address=address,
        sni=spec.server_name,
        protocol=spec.protocol,
        source=spec.source,
    )


async def _addresses(host: str, port: int, all_addresses: bool) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    # getaddrinfo orders by RFC 6724 preference; keep that order, drop duplicates.
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return addresses if all_addresses else addresses[:1]


async def resolve_endpoints(
    specs: Sequence[EndpointSpec],
    *,
    all_addresses: bool,
    observed_at: datetime,
    concurrency: int = 32,
) -> Resolution:
    """Expand every spec to one endpoint per address; a name that does not resolve is an observation."""
    gate = asyncio.Semaphore(concurrency)
    endpoints: list[Endpoint] = []
    failures: list[Observation] = []
    to_resolve: list[EndpointSpec] = []
    for spec in specs:
        if spec.addresses:
            endpoints.extend(_endpoint(spec, address) for address in spec.addresses)
        elif is_ip_literal(spec.host):
            endpoints.append(_endpoint(spec, spec.host.strip("[]")))
        else:
            to_resolve.append(spec)

    async def expand(spec: EndpointSpec) -> list[Endpoint] | Observation:
        name = spec.resolve_name or spec.host
        async with gate:
            try:
                addresses = await _addresses(name, spec.port, all_addresses)
            except (socket.gaierror, UnicodeError) as exc:
                message = getattr(exc, "strerror", None) or str(exc)
                return Observation(
                    endpoint=_endpoint(spec, ""),
                    observed_at=observed_at,
                    status="error",
                    error=ProbeError(ErrorKind.DNS, f"cannot resolve {name}: {message}"),
                )
        return [_endpoint(spec, address) for address in addresses]

    for item in await asyncio.gather(*(expand(spec) for spec in to_resolve)):
        if isinstance(item, Observation):
            failures.append(item)
        else:
            endpoints.extend(item)
    return Resolution(tuple(_unique(endpoints)), tuple(failures))


def _unique(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    return list(dict.fromkeys(endpoints))
