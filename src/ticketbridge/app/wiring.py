"""Settings to objects: the policy, the ticket backend and the on-call sinks a run uses."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ticketbridge.app.config import Settings
from ticketbridge.app.gather import resolve_relative
from ticketbridge.core.exceptions import RiskException
from ticketbridge.core.policy import Policy, PolicyError
from ticketbridge.core.ports import Closeable, Pager, TicketSystem
from ticketbridge.errors import ConfigError
from ticketbridge.infra.clock import utcnow_seconds

if TYPE_CHECKING:
    from ticketbridge.app.config import AlertsSettings, JiraSettings
    from ticketbridge.tickets.jira.options import JiraOptions


def policy_of(settings: Settings, config_path: Path) -> Policy:
    """The policy the decider applies; a rule the config's own types cannot state is named here."""
    policy = settings.policy
    try:
        return Policy(
            lead_days=policy.lead_days,
            ticket_horizon_days=policy.ticket_horizon_days,
            escalate_within_days=policy.escalate_within_days,
            page_within_days=policy.page_within_days,
            timezone=policy.timezone,
            keep_earlier_due_date=policy.keep_earlier_due_date,
            resolve_on_renewal=policy.resolve_on_renewal,
            max_changes=policy.max_changes,
            escalation_priority=settings.jira.escalation_priority,
        )
    except PolicyError as exc:
        # escalation_priority is configured under [jira], where Jira's priorities are.
        key = "jira" if exc.field == "escalation_priority" else "policy"
        raise ConfigError(f"{config_path}: {key}.{exc.field}: {exc.detail}") from None


def exceptions_of(settings: Settings) -> tuple[RiskException, ...]:
    """The `[[exceptions]]` entries, as the decider reads them."""
    return tuple(
        RiskException(
            reason=entry.reason,
            approved_by=entry.approved_by,
            until=entry.until,
            names=tuple(entry.names),
            id=entry.id,
        )
        for entry in settings.exceptions
    )


def ticket_system(
    settings: Settings, config_path: Path, *, clock: Callable[[], datetime] = utcnow_seconds
) -> TicketSystem:
    """The configured backend: the embedded SQLite store, or Jira."""
    if settings.tickets.backend == "jira":
        from ticketbridge.tickets.jira.system import JiraTicketSystem

        try:
            return JiraTicketSystem(jira_options(settings.jira), clock=clock)
        except ConfigError as exc:
            raise ConfigError(f"{config_path}: {exc}") from None
    from ticketbridge.app.storeguard import guard_local_store
    from ticketbridge.tickets.local import LocalTicketStore

    store_path = resolve_relative(settings.tickets.local_path, config_path)
    guard_local_store(store_path, resolve_relative(settings.audit.log_path, config_path))
    return LocalTicketStore(store_path, clock=clock)


def jira_options(jira: JiraSettings) -> JiraOptions:
    """The Jira adapter's options from the `[jira]` settings (the adapter never sees settings)."""
    from ticketbridge.tickets.jira.options import JiraOptions

    return JiraOptions(
        url=jira.url,
        project=jira.project,
        token=jira.token.get_secret_value(),
        deployment=jira.deployment,
        issue_type=jira.issue_type,
        email=jira.email,
        labels=tuple(jira.labels),
        adopt_jql=jira.adopt_jql,
        escalation_priority=jira.escalation_priority,
        done_transition=jira.done_transition,
        reopen_transition=jira.reopen_transition,
        requests_per_second=jira.requests_per_second,
        ca_bundle=jira.ca_bundle,
        timeout=jira.timeout,
        extra_fields=dict(jira.extra_fields),
        create_fields=dict(jira.create_fields),
        transition_fields={name: dict(values) for name, values in jira.transition_fields.items()},
        index_lag_seconds=jira.index_lag_seconds,
        cloud_id=jira.cloud_id,
        gateway_url=jira.gateway_url,
        max_text_length=jira.max_text_length,
    )


def opened(stack: contextlib.ExitStack, settings: Settings, config_path: Path) -> TicketSystem:
    """The configured backend, closed (HTTP sessions and all) when `stack` unwinds."""
    backend = ticket_system(settings, config_path)
    if isinstance(backend, Closeable):
        stack.callback(backend.close)
    return backend


def lock_path(settings: Settings, config_path: Path) -> Path:
    return resolve_relative(settings.tickets.lock_path, config_path)


def pager_of(
    settings: Settings, config_path: Path | None = None, *, dry_run: bool = False
) -> Pager | None:
    """The configured on-call sinks, or None when there are none (pages are then not planned).
    A dry run plans pages without reading the sinks' secrets."""
    from ticketbridge.app.sinks import configured_pager

    return configured_pager(settings, config_path, dry_run=dry_run)


def pager_from_settings(settings: AlertsSettings) -> Pager:
    """Every configured sink behind one Pager, without a ledger: an event is delivered when
    every sink took it."""
    from ticketbridge.alerts import FanOutPager
    from ticketbridge.app.config_path import environment
    from ticketbridge.app.sinks import sinks_of

    return FanOutPager(sinks_of(settings, environment()))
