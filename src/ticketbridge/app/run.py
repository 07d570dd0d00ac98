"""The shell around the pure core: gather, decide, the safety gate, act; the CLI calls only this."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ticketbridge.app.config import Settings
from ticketbridge.app.gather import gather, inventory_pins, resolve_relative, scan, utcnow
from ticketbridge.app.runlock import RunLock
from ticketbridge.audit import AuditLog
from ticketbridge.core.apply import ApplyReport, apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory, build_inventory
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import Pager, Plan
from ticketbridge.core.policy import Policy
from ticketbridge.core.ports import TicketSystem
from ticketbridge.errors import ConfigError, UnsafePlan

# Exit codes the audit trail records for a run (the CLI maps the same outcomes to the same codes).
EXIT_OK, EXIT_RUN_ERROR, EXIT_UNSAFE_PLAN = 0, 1, 4

__all__ = [
    "RunOutcome",
    "gather",
    "make_plan",
    "opened",
    "reconcile",
    "scan",
    "ticket_system",
    "utcnow",
]


def policy_of(settings: Settings) -> Policy:
    policy = settings.policy
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


def validated_policy(settings: Settings, config_path: Path) -> Policy:
    try:
        return policy_of(settings)
    except ValueError as exc:
        message = str(exc)
        key, _, detail = message.partition(" ")
        key = key.replace("policy.escalation_priority", "jira.escalation_priority")
        if key.startswith(("policy.", "jira.")):
            raise ConfigError(f"{config_path}: {key.rstrip(':')}: {detail}") from None
        raise ConfigError(f"{config_path}: policy: {message}") from None


def ticket_system(
    settings: Settings, config_path: Path, *, clock: Callable[[], datetime] = utcnow
) -> TicketSystem:
    """The configured backend: the embedded SQLite store, or Jira."""
    if settings.tickets.backend == "jira":
        from ticketbridge.tickets.jira.system import JiraTicketSystem

        try:
            return JiraTicketSystem.from_settings(settings.jira, clock=clock)
        except ConfigError as exc:
            raise ConfigError(f"{config_path}: {exc}") from None
    from ticketbridge.tickets.local import LocalTicketStore

    return LocalTicketStore(resolve_relative(settings.tickets.local_path, config_path), clock=clock)


def lock_path(settings: Settings, config_path: Path) -> Path:
    return resolve_relative(settings.tickets.lock_path, config_path)


def make_plan(
    settings: Settings,
    config_path: Path,
    observations: Sequence[Observation],
    tickets: TicketSystem,
    *,
    now: datetime,
    paging: bool,
) -> Plan:
    inventory = build_inventory(observations, inventory_pins(settings))
    return plan_for(settings, config_path, inventory, tickets, now=now, paging=paging)


def plan_for(
    settings: Settings,
    config_path: Path,
    inventory: Inventory,
    tickets: TicketSystem,
    *,
    now: datetime,
    paging: bool,
) -> Plan:
    policy = validated_policy(settings, config_path)
    # With no on-call sink configured a page would reach nobody: it is not planned at all.
    return decide(inventory, tickets.open_tickets(), policy, now, paging=paging)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    plan: Plan
    report: ApplyReport | None  # None for a dry run


def reconcile(
    settings: Settings,
    config_path: Path,
    observations: Sequence[Observation],
    *,
    dry_run: bool,
    force: bool,
    max_changes: int | None,
    now: datetime,
    pager: Pager | None = None,
    tickets: TicketSystem | None = None,
) -> RunOutcome:
    """Plan, refuse an unsafe plan, and apply it under the run lock (unless a dry run)."""
    with contextlib.ExitStack() as stack:
        backend = tickets if tickets is not None else opened(stack, settings, config_path)
        if dry_run:
            return RunOutcome(
                make_plan(
                    settings, config_path, observations, backend, now=now, paging=pager is not None
                ),
                None,
            )
        limit = settings.policy.max_changes if max_changes is None else max_changes
        with RunLock(lock_path(settings, config_path)):
            audit = AuditLog(resolve_relative(settings.audit.log_path, config_path))
            audit.start_run(config_path=str(config_path), backend=settings.tickets.backend)
            report: ApplyReport | None = None
            try:
                inventory = build_inventory(observations, inventory_pins(settings))
                audit.observed(inventory)
                plan = plan_for(
                    settings, config_path, inventory, backend, now=now, paging=pager is not None
                )
                plan.raise_if_unsafe(limit, force)
                report = apply_plan(plan, backend, pager, on_result=audit.action)
            except UnsafePlan as exc:
                audit.finish_run(None, EXIT_UNSAFE_PLAN, error=str(exc))
                raise
            except Exception as exc:
                audit.finish_run(report, EXIT_RUN_ERROR, error=f"{type(exc).__name__}: {exc}")
                raise
            audit.finish_run(report, EXIT_OK if report.ok else EXIT_RUN_ERROR)
        return RunOutcome(plan, report)


def opened(stack: contextlib.ExitStack, settings: Settings, config_path: Path) -> TicketSystem:
    """The configured backend, closed (HTTP sessions and all) when `stack` unwinds."""
    backend = ticket_system(settings, config_path)
    close = getattr(backend, "close", None)
    if callable(close):
        stack.callback(close)
    return backend
