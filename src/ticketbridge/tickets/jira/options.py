"""What the Jira adapter is told: a frozen value, built by the app from its settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from ticketbridge.core.ports import valid_labels
from ticketbridge.errors import ConfigError, PermanentBackendError

__all__ = ["CREATE_OWNED", "DeploymentSetting", "JiraOptions"]

DeploymentSetting = Literal["auto", "cloud", "datacenter"]
# Fields every create carries from ticketbridge itself: configuring them would break matching.
CREATE_OWNED: Final = frozenset(
    {"project", "issuetype", "summary", "description", "duedate", "labels"}
)


@dataclass(frozen=True, slots=True)
class JiraOptions:
    """The `[jira]` keys SPEC names, as plain values; `token` never appears in a repr."""

    url: str
    project: str
    token: str = field(repr=False)
    deployment: DeploymentSetting = "auto"
    issue_type: str = "Task"
    email: str = ""
    labels: tuple[str, ...] = ("ticketbridge",)
    adopt_jql: str = ""
    escalation_priority: str = "Highest"
    done_transition: str = "Done"
    reopen_transition: str = "Reopen"
    requests_per_second: float = 5.0
    ca_bundle: str = ""
    timeout: float = 30.0
    extra_fields: Mapping[str, Any] = field(default_factory=dict)
    # Jira REST JSON for the create body's `fields`, and per transition name for its `fields`:
    # what a project's screens require beyond what ticketbridge sets (jiralert's `fields`).
    create_fields: Mapping[str, Any] = field(default_factory=dict)
    transition_fields: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # How long a write may stay invisible to search (Cloud's index lags by seconds to
    # minutes; a Data Center cluster's can too): an unseen create younger than this is held.
    index_lag_seconds: float = 300.0
    # Scoped tokens (service accounts): API calls via the gateway (tickets/jira/gateway.py).
    cloud_id: str = ""
    gateway_url: str = "https://api.atlassian.com"
    # Data Center's text-field limit is a setting (jira.text.field.character.limit).
    max_text_length: int = 32_767

    def __post_init__(self) -> None:
        # Callers may pass lists; the value stays immutable either way.
        object.__setattr__(self, "labels", tuple(self.labels))

    @property
    def create_defaults(self) -> dict[str, Any]:
        """The configured create fields (`extra_fields`, the older name, under `create_fields`)."""
        return {**self.extra_fields, **self.create_fields}

    def fields_of_transition(self, name: str) -> tuple[str, Mapping[str, Any]]:
        """The config key and configured fields of the transition called `name` (any case)."""
        for configured, values in self.transition_fields.items():
            if configured.casefold() == name.casefold():
                return f"jira.transition_fields.{configured}", values
        return f"jira.transition_fields.{name}", {}

    @property
    def address(self) -> str:
        """`url` without userinfo: ticketbridge authenticates with email + token only, so a
        `user:password@` in jira.url is neither sent nor ever printed (RFC 3986 §3.2.1 calls
        the form deprecated; it still turns up in configuration)."""
        parts = urlsplit(self.url)
        if parts.username is None and parts.password is None:
            return self.url
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))

    def check(self) -> None:
        """Raise ConfigError naming the first key that cannot work, before any request."""
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"jira.url: {self.address!r} is not an http(s) URL")
        if "@" in parts.netloc:
            raise ConfigError("jira.url: must not carry a user name or password (user:password@)")
        gateway = urlsplit(self.gateway_url)
        if gateway.scheme not in ("http", "https") or not gateway.hostname or "@" in gateway.netloc:
            raise ConfigError("jira.gateway_url: not an http(s) URL without userinfo")
        if self.cloud_id and self.deployment == "datacenter":
            raise ConfigError("jira.cloud_id: only Jira Cloud has one (deployment is datacenter)")
        if not self.project.strip():
            raise ConfigError('jira.project: required with tickets.backend = "jira"')
        if not self.token:
            raise ConfigError("jira.token: required; set TICKETBRIDGE_JIRA__TOKEN")
        if self.deployment == "cloud" and not self.email:
            raise ConfigError("jira.email: Jira Cloud authenticates with email + API token")
        if self.ca_bundle and not Path(self.ca_bundle).exists():
            raise ConfigError(f"jira.ca_bundle: {self.ca_bundle} does not exist")
        try:
            valid_labels(self.labels)
        except PermanentBackendError as exc:
            raise ConfigError(f"jira.labels: {exc}") from None
        self._check_fields()

    def _check_fields(self) -> None:
        for key, values in (
            ("extra_fields", self.extra_fields),
            ("create_fields", self.create_fields),
        ):
            owned = sorted(set(values) & CREATE_OWNED)
            if owned:
                raise ConfigError(
                    f"jira.{key}.{owned[0]}: ticketbridge sets this field itself "
                    "(the marker, the due date and the evidence depend on it)"
                )
        names = {self.done_transition.casefold(), self.reopen_transition.casefold()}
        for name, values in self.transition_fields.items():
            if name.casefold() not in names:
                raise ConfigError(
                    f"jira.transition_fields.{name}: not a transition ticketbridge makes "
                    f"(jira.done_transition = {self.done_transition!r}, "
                    f"jira.reopen_transition = {self.reopen_transition!r})"
                )
            if not isinstance(values, Mapping):
                raise ConfigError(f"jira.transition_fields.{name}: a table of field values")
