"""Configuration: TOML plus `TICKETBRIDGE_SECTION__KEY` environment overrides; the only reader of
config files and of the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ticketbridge.app.config_path import CONFIG_ENV_VAR
from ticketbridge.app.config_sources import (
    environment_overrides,
    merged,
    origin_of,
    read_toml,
)
from ticketbridge.app.source_settings import SourcesSettings
from ticketbridge.errors import ConfigError, NoConfigError

_NO_CONFIG = (
    "no configuration found: no --config given, ${variable} is not set, and there is no ./{path};"
    " make one with `ticketbridge init NAME...` (or try `ticketbridge demo` first)"
)

StartTLS = Literal["smtp", "imap", "pop3", "ftp", "postgres", "ldap", "xmpp"]


def _not_a_bool(value: Any) -> Any:
    # TOML's `true` is not a number, but pydantic's lax mode reads it as 1 (`port = true`).
    if isinstance(value, bool):
        raise ValueError("must be a number, not true or false")
    return value


NOT_BOOL = BeforeValidator(_not_a_bool)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DiscoverySettings(_Section):
    concurrency: Annotated[int, NOT_BOOL, Field(ge=1, le=10_000)] = 64
    workers: Annotated[int, NOT_BOOL, Field(ge=0, le=64)] = 0
    connect_timeout: Annotated[float, NOT_BOOL, Field(gt=0, le=600)] = 5.0
    handshake_timeout: Annotated[float, NOT_BOOL, Field(gt=0, le=600)] = 10.0
    resolve_all_addresses: bool = True
    ca_bundle: str = ""
    # HSTS evidence: `HEAD /` on HTTPS endpoints (auto: TLS on 443 or `http = true`).
    hsts: Literal["auto", "always", "never"] = "auto"


@pydantic_dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class EndpointSettings:
    """One `[[endpoints]]` table. A slotted dataclass, not a model: a config may list tens of
    thousands of these, and a model instance costs four times the memory."""

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[int, NOT_BOOL, Field(ge=1, le=65535)] = 443
    addresses: tuple[str, ...] = ()
    sni: str | None = None
    starttls: StartTLS | None = None
    http: bool | None = None  # an HTTPS endpoint (HSTS is read) whatever its port; None: auto

    @field_validator("host")
    @classmethod
    def _host_has_no_spaces(cls, host: str) -> str:
        host = host.strip()
        if not host or any(map(str.isspace, host)):
            raise ValueError("must be a host name or IP address without spaces")
        return host

    @field_validator("addresses")
    @classmethod
    def _addresses_are_ips(cls, addresses: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(map(_normalised_address, addresses))


@lru_cache(maxsize=4096)
def _normalised_address(address: str) -> str:
    """An address as `ipaddress` writes it. Memoised: a large fleet lists a few hundred
    addresses under tens of thousands of names (20,000 endpoints: 0.15 s of parsing)."""
    try:
        return str(ipaddress.ip_address(address.strip().strip("[]")))
    except ValueError:
        raise ValueError(f"{address!r} is not an IP address") from None


class FilesSettings(_Section):
    path: Annotated[str, Field(min_length=1)]
    password_env: str = ""  # name of the environment variable holding a PKCS#12 password


class PolicySettings(_Section):
    lead_days: Annotated[int, NOT_BOOL, Field(ge=0, le=3650)] = 21
    ticket_horizon_days: Annotated[int, NOT_BOOL, Field(ge=0, le=3650)] = 45
    escalate_within_days: Annotated[int, NOT_BOOL, Field(ge=0, le=3650)] = 14
    page_within_days: Annotated[int, NOT_BOOL, Field(ge=0, le=3650)] = 3
    timezone: str = "UTC"
    keep_earlier_due_date: bool = False
    resolve_on_renewal: bool = True
    max_changes: Annotated[int, NOT_BOOL, Field(ge=0)] = 50
    hsts_min_max_age: Annotated[int, NOT_BOOL, Field(ge=0)] = 0  # seconds; 0: not checked
    # Observations from --observations older than this are unobserved (SPEC "Shards").
    max_observation_age_hours: Annotated[float, NOT_BOOL, Field(gt=0)] = 24
    # A renewal CT shows issued but no endpoint serves gets a ticket ("deploy it"), whatever
    # the expiry; otherwise it is a finding only (issue 17).
    ticket_undeployed_renewals: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {name!r}") from None
        return name


class RunSettings(_Section):
    # Wall-clock seconds a whole scan, plan or reconcile may take (0: no deadline). An hour:
    # what a scheduled job would choose, so a stuck peer never holds the lock until the next one.
    deadline: Annotated[float, Field(ge=0)] = 3600.0


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
    requests_per_second: Annotated[float, NOT_BOOL, Field(gt=0, le=1000)] = 5
    ca_bundle: str = ""
    timeout: Annotated[float, NOT_BOOL, Field(gt=0, le=600)] = 30.0
    extra_fields: dict[str, Any] = Field(default_factory=dict)
    # Jira REST JSON a project's screens require: on create, and per transition name.
    create_fields: dict[str, Any] = Field(default_factory=dict)
    transition_fields: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Issue 14: how long a write may stay invisible to Jira's search (Cloud: seconds to
    # minutes); an unseen create younger than this holds back another for its certificate.
    index_lag_seconds: Annotated[float, NOT_BOOL, Field(ge=0, le=86_400)] = 300.0
    # Scoped API tokens (service accounts) call Atlassian's gateway for this site's cloud id
    # ("discover": ask the site); links stay on `url`. The gateway is configurable for tests.
    cloud_id: str = ""
    gateway_url: str = "https://api.atlassian.com"
    # Data Center's text-field limit, configurable there (jira.text.field.character.limit).
    max_text_length: Annotated[int, NOT_BOOL, Field(ge=1_000, le=10_000_000)] = 32_767

    @field_validator("url")
    @classmethod
    def _no_userinfo(cls, url: str) -> str:
        # The value itself is never repeated: it may hold a password.
        if "@" in urlsplit(url.strip()).netloc:
            raise ValueError(
                "must not carry a user name or password (user:password@); ticketbridge "
                "authenticates with jira.email and jira.token"
            )
        return url


class PagerDutySettings(_Section):
    routing_key: SecretStr = SecretStr("")
    url: str = "https://events.pagerduty.com/v2/enqueue"


class WebhookSettings(_Section):
    url: str
    secret: SecretStr = SecretStr("")


class OpsgenieSettings(_Section):
    api_key: SecretStr = SecretStr("")
    api_key_env: str = ""  # or the name of the environment variable holding the key
    url: str = "https://api.opsgenie.com"  # the EU instance: https://api.eu.opsgenie.com


class SlackSettings(_Section):
    webhook_url: SecretStr = SecretStr("")
    webhook_url_env: str = ""  # or the name of the environment variable holding the URL


class AlertsSettings(_Section):
    pagerduty: list[PagerDutySettings] = Field(default_factory=list)
    webhook: list[WebhookSettings] = Field(default_factory=list)
    opsgenie: list[OpsgenieSettings] = Field(default_factory=list)
    slack: list[SlackSettings] = Field(default_factory=list)
    # Which sink took which page, so a page is never delivered twice (relative to the config).
    ledger_path: str = "ticketbridge-alerts.json"


class AuditSettings(_Section):
    log_path: str = "ticketbridge-audit.jsonl"
    # How often the scheduled reconcile runs: the report flags longer stretches without a run.
    schedule_hours: Annotated[float, NOT_BOOL, Field(gt=0, le=8760)] = 24


class CertificateSettings(_Section):
    names: Annotated[list[str], Field(min_length=1)]
    id: str | None = None
    owner: str | None = None
    assignee: str | None = None
    lead_days: Annotated[int | None, NOT_BOOL, Field(ge=0, le=3650)] = None


class ExceptionSettings(_Section):
    """One `[[exceptions]]` entry: accepted risk, approved and time-boxed (SPEC)."""

    names: list[str] = Field(default_factory=list)
    id: Annotated[str | None, Field(pattern=r"^[0-9a-f]{16}$")] = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]
    approved_by: Annotated[str, Field(min_length=1, max_length=200)]
    until: date

    @model_validator(mode="after")
    def _names_or_id(self) -> ExceptionSettings:
        if bool(self.names) == bool(self.id):
            raise ValueError("give either names or id (the certificate the exception covers)")
        return self


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
    run: RunSettings = Field(default_factory=RunSettings)
    certificates: list[CertificateSettings] = Field(default_factory=list)
    exceptions: list[ExceptionSettings] = Field(default_factory=list)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings lays the environment over the file itself, so that an error can name
        # the variable; the settings see only the merged data.
        return (init_settings,)


def load_settings(
    path: Path, *, required: bool = True, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the configuration; every problem becomes one ConfigError line that
    names the file and key, or the environment variable, it came from."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if required or path.exists():
        data = read_toml(path)
    try:
        overrides, origins = environment_overrides(
            Settings, environ, ignore=_password_variables(data)
        )
        if not required and not overrides and not path.exists():
            raise NoConfigError(_NO_CONFIG.format(path=path, variable=CONFIG_ENV_VAR))
        settings = Settings(**merged(data, overrides))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        variable = origin_of(tuple(first["loc"]), origins)
        where = f"environment variable {variable}" if variable else str(path)
        raise ConfigError(f"{where}: {_first_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply") from None
    return _anchored(settings, path)


def _anchored(settings: Settings, path: Path) -> Settings:
    """`jira.ca_bundle` relative to the config file, like every other path in it: the Jira
    client is handed the path as is, so cron's working directory must not matter."""
    bundle = settings.jira.ca_bundle
    if not bundle:
        return settings
    expanded = Path(bundle).expanduser()
    anchored = expanded if expanded.is_absolute() else path.parent / expanded
    jira = settings.jira.model_copy(update={"ca_bundle": str(anchored)})
    return settings.model_copy(update={"jira": jira})


def _password_variables(data: Mapping[str, Any]) -> frozenset[str]:
    """Variables named by `files[].password_env`: secrets, not settings, whatever their name."""
    entries = data.get("files")
    if not isinstance(entries, list):
        return frozenset()
    return frozenset(
        entry["password_env"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("password_env"), str)
    )


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
