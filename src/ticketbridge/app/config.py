"""Configuration: TOML plus `TICKETBRIDGE_SECTION__KEY` environment overrides; the only reader of
config files and of the environment."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ticketbridge.errors import ConfigError

CONFIG_ENV_VAR = "TICKETBRIDGE_CONFIG"
DEFAULT_CONFIG_PATH = Path("ticketbridge.toml")

StartTLS = Literal["smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoverySettings(_Section):
    concurrency: Annotated[int, Field(ge=1, le=10_000)] = 64
    workers: Annotated[int, Field(ge=0, le=64)] = 0
    connect_timeout: Annotated[float, Field(gt=0, le=600)] = 5.0
    handshake_timeout: Annotated[float, Field(gt=0, le=600)] = 10.0
    resolve_all_addresses: bool = True
    ca_bundle: str = ""


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class EndpointSettings:
    """One `[[endpoints]]` table. A slotted dataclass, not a model: a config may list tens of
    thousands of these, and a model instance costs four times the memory."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    addresses: tuple[str, ...] = ()
    sni: str | None = None
    starttls: StartTLS | None = None

    @field_validator("host")
    @classmethod
    def _host_has_no_spaces(cls, host: str) -> str:
        host = host.strip()
        if not host or any(character.isspace() for character in host):
            raise ValueError("must be a host name or IP address without spaces")
        return host

    @field_validator("addresses")
    @classmethod
    def _addresses_are_ips(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        normalised = []
        for address in addresses:
            try:
                normalised.append(str(ipaddress.ip_address(address.strip().strip("[]"))))
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return tuple(normalised)


class FilesSettings(_Section):
    path: Annotated[str, Field(min_length=1)]
    password_env: str = ""  # name of the environment variable holding a PKCS#12 password


class PolicySettings(_Section):
    lead_days: Annotated[int, Field(ge=0, le=3650)] = 21
    ticket_horizon_days: Annotated[int, Field(ge=0, le=3650)] = 45
    escalate_within_days: Annotated[int, Field(ge=0, le=3650)] = 14
    page_within_days: Annotated[int, Field(ge=0, le=3650)] = 3
    timezone: str = "UTC"
    keep_earlier_due_date: bool = False
    resolve_on_renewal: bool = True
    max_changes: Annotated[int, Field(ge=0)] = 50

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {name!r}") from None
        return name


class TicketsSettings(_Section):
    backend: Literal["local", "jira"] = "local"
    local_path: str = "ticketbridge.db"
    lock_path: str = "ticketbridge.lock"


class JiraSettings(_Section):
    url: str = ""
    deployment: Literal["auto", "cloud", "datacenter"] = "auto"
    project: str = ""
    issue_type: str = "Task"
    email: str = ""
    token: SecretStr = SecretStr("")
    labels: list[str] = Field(default_factory=lambda: ["ticketbridge"])
    adopt_jql: str = ""
    escalation_priority: str = "Highest"
    done_transition: str = "Done"
    reopen_transition: str = "Reopen"
    requests_per_second: Annotated[float, Field(gt=0, le=1000)] = 5
    ca_bundle: str = ""
    timeout: Annotated[float, Field(gt=0, le=600)] = 30.0
    extra_fields: dict[str, Any] = Field(default_factory=dict)


class PagerDutySettings(_Section):
    routing_key: SecretStr = SecretStr("")
    url: str = "https://events.pagerduty.com/v2/enqueue"


class WebhookSettings(_Section):
    url: str
    secret: SecretStr = SecretStr("")


class AlertsSettings(_Section):
    pagerduty: list[PagerDutySettings] = Field(default_factory=list)
    webhook: list[WebhookSettings] = Field(default_factory=list)


class AuditSettings(_Section):
    log_path: str = "ticketbridge-audit.jsonl"


class CertificateSettings(_Section):
    names: Annotated[list[str], Field(min_length=1)]
    id: str | None = None
    owner: str | None = None
    assignee: str | None = None
    lead_days: Annotated[int | None, Field(ge=0, le=3650)] = None


class Settings(BaseSettings):
    """The whole configuration; sections and keys exactly as SPEC names them."""

    model_config = SettingsConfigDict(
        env_prefix="TICKETBRIDGE_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
        case_sensitive=False,
    )

    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    endpoints: list[EndpointSettings] = Field(default_factory=list)
    files: list[FilesSettings] = Field(default_factory=list)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    tickets: TicketsSettings = Field(default_factory=TicketsSettings)
    jira: JiraSettings = Field(default_factory=JiraSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    certificates: list[CertificateSettings] = Field(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file arrives as init kwargs; the environment must win over it.
        return (env_settings, init_settings)


def resolve_config_path(cli_path: Path | None, environ: Mapping[str, str]) -> tuple[Path, bool]:
    """`--config`, else `$TICKETBRIDGE_CONFIG`, else `./ticketbridge.toml`; and whether it was asked for."""
    if cli_path is not None:
        return cli_path, True
    from_env = environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env), True
    return DEFAULT_CONFIG_PATH, False


def load_settings(path: Path, *, required: bool = True) -> Settings:
    """Read and validate the configuration; every problem becomes one ConfigError line."""
    data: dict[str, Any] = {}
    if path.exists() or required:
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a TOML file") from None
        except PermissionError:
            raise ConfigError(f"{path}: permission denied") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc)}") from None


def _first_problem(exc: ValidationError) -> str:
    problems = exc.errors(include_url=False)
    first = problems[0]
    location = _dotted(first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
        message = "unknown key"
    elif first["type"] == "missing":
        message = "required key is missing"
    more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return f"{location}: {message}{more}"


def _dotted(location: tuple[int | str, ...]) -> str:
    dotted = ""
    for part in location:
        if isinstance(part, int):
            dotted += f"[{part}]"
        else:
            dotted += f".{part}" if dotted else str(part)
    return dotted or "(top level)"


def pkcs12_password(
    entry: FilesSettings, index: int, path: Path, environ: Mapping[str, str]
) -> bytes | None:
    """The PKCS#12 password named by `password_env`, read from the environment here and only here."""
    if not entry.password_env:
        return None
    value = environ.get(entry.password_env)
    if value is None:
        raise ConfigError(
            f"{path}: files[{index}].password_env: environment variable {entry.password_env} is not set"
        )
    return value.encode("utf-8")


def environment() -> Mapping[str, str]:
    return os.environ
