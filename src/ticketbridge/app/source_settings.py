"""The `[[sources.*]]` tables of the configuration: where endpoints and CT certificates are read from."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _not_a_bool(value: Any) -> Any:
    # TOML's `true` is not a port, but pydantic's lax mode reads it as 1.
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


Port = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=65535)]
Ports = Annotated[list[Port], Field(min_length=1)]
Path = Annotated[str, Field(min_length=1)]


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZoneSource(_Source):
    """An RFC 1035 master file; `origin` when the file has no `$ORIGIN` of its own."""

    file: Path
    origin: str = ""
    ports: Ports = Field(default_factory=lambda: [443])


class OctodnsSource(_Source):
    """octoDNS YamlProvider files: one `<zone>.yaml`, or a directory of them."""

    path: Path
    zone: str = ""  # default: the file's name without `.yaml`
    ports: Ports = Field(default_factory=lambda: [443])


class PrometheusSource(_Source):
    """Prometheus file_sd target files (a glob)."""

    file_sd: Path
    default_port: Port = 443  # for a target written without a port
    starttls: Literal["smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp"] | None = None


class KubernetesSource(_Source):
    """Manifests or `kubectl get -o json` dumps (a glob, `**` allowed)."""

    path: Path


class CtSource(_Source):
    """crt.sh JSON exports or RFC 6962 get-entries answers (a glob)."""

    file: Path
    # The domains the export was fetched for: a served certificate under them that CT never
    # logged is reported. Without it, only certificates whose names CT lists at all are judged.
    domains: list[str] = Field(default_factory=list)


class SourcesSettings(_Source):
    zone: list[ZoneSource] = Field(default_factory=list)
    octodns: list[OctodnsSource] = Field(default_factory=list)
    prometheus: list[PrometheusSource] = Field(default_factory=list)
    kubernetes: list[KubernetesSource] = Field(default_factory=list)
    ct: list[CtSource] = Field(default_factory=list)

    @property
    def any_endpoints(self) -> bool:
        return bool(self.zone or self.octodns or self.prometheus or self.kubernetes)
