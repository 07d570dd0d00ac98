"""The shell around the pure core: gather, decide, the safety gate, act; the CLI calls only this."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.app.config import Settings
from ticketbridge.app.gather import gather, inventory_pins, resolve_relative, scan
from ticketbridge.app.runlock import RunLock
from ticketbridge.app.wiring import lock_path, opened, policy_of
from ticketbridge.audit import AuditLog
from ticketbridge.audit.intents import (
    JournaledPager,
    JournaledTicketSystem,
    recent_creates,
    settle_open_intents,
)
from ticketbridge.core.apply import ActionResult, ApplyReport, apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory, build_inventory
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import Plan
from ticketbridge.core.ports import (
    CompletesTrackedEndpoints,
    LagsBehindWrites,
    Pager,
    TicketSystem,
)
from ticketbridge.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_ERROR,
    EXIT_TERMINATED,
    AuditLogError,
    RunDeadlineExceeded,
    Terminated,
    TicketbridgeError,
    UnsafePlan,
)
from ticketbridge.infra.clock import utcnow_seconds as utcnow
from ticketbridge.infra.scrub import outside_detail

__all__ = [
    "RunOutcome",
    "gather",
    "make_plan",
    "reconcile",
    "scan",
    "utcnow",
]


def make_plan(
    settings: Settings,
    config_path: Path,
    observations: Sequence[Observation],
    tickets: TicketSystem,
    *,
    now: datetime,
    paging: bool,
) -> Plan:
    return plan_for(
        settings, config_path, inventory_of(settings, observations), tickets, now=now, paging=paging
    )


def inventory_of(settings: Settings, observations: Sequence[Observation]) -> Inventory:
    """This run's tracked certificates, `[[certificates]]` pins applied: what plans, tickets,
    metrics and the audit trail all name."""
    return build_inventory(observations, inventory_pins(settings))


def plan_for(
    settings: Settings,
    config_path: Path,
    inventory: Inventory,
    tickets: TicketSystem,
    *,
    now: datetime,
    paging: bool,
) -> Plan:
    policy = policy_of(settings, config_path)
    open_now = tickets.open_tickets()
    # Data Center's search cannot return the evidence property: the Jira adapter reads it, by
    # key, only for marker tickets whose certificate this run did not see (a converged run
    # therefore still makes search requests only).
    if isinstance(tickets, CompletesTrackedEndpoints):
        open_now = tickets.with_tracked_endpoints(
            open_now, {cert.id for cert in inventory.certificates}
        )
    # With no on-call sink configured a page would reach nobody: it is not planned at all.
    return decide(inventory, open_now, policy, now, paging=paging)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    inventory: Inventory
    plan: Plan
    report: ApplyReport | None  # None for a dry run
    observations: tuple[Observation, ...] = ()  # what the run gathered, for its metrics

    def as_dict(self) -> dict[str, Any]:
        """`reconcile --format json`: the report, or for a dry run the plan with nothing applied."""
        if self.report is not None:
            return self.report.as_dict()
        document = self.plan.as_dict()
        for action in document["actions"]:
            action["applied"] = False
        return document


def _scrubbed(record: Callable[[ActionResult], None]) -> Callable[[ActionResult], None]:
    """An action's error may quote a server: the trail keeps it scrubbed, on one short line."""

    def write(result: ActionResult) -> None:
        if result.error is not None:
            result = replace(result, error=outside_detail(result.error, 500))
        record(result)

    return write


# What a run plans from: observations already made, or a way to make them (a scan), which a
# run calls only after everything is validated and, unless it is a dry run, the lock is held.
Observe = Sequence[Observation] | Callable[[], Sequence[Observation]]


def reconcile(
    settings: Settings,
    config_path: Path,
    observations: Observe,
    *,
    dry_run: bool,
    force: bool,
    max_changes: int | None,
    now: datetime | Callable[[], datetime],
    pager: Pager | None = None,
    tickets: TicketSystem | None = None,
    clock: Callable[[], datetime] | None = None,
) -> RunOutcome:
    """Validate, lock, observe, plan, refuse an unsafe plan, apply (unless a dry run).

    The order is the point: a configuration or policy error is found in a second, not after
    a scan of the whole fleet, and a second run waiting on the lock never scans at all.
    `now` may be a clock, read once the observations are in (a scan takes minutes);
    `clock` is what the audit trail and the index-lag rule read (tests simulate it).
    """
    policy = policy_of(settings, config_path)
    paging = pager is not None
    with contextlib.ExitStack() as stack:
        backend = tickets if tickets is not None else opened(stack, settings, config_path)
        if dry_run:
            seen = tuple(_observe(observations))
            inventory = inventory_of(settings, seen)
            plan = decide(inventory, backend.open_tickets(), policy, _at(now), paging=paging)
            return RunOutcome(inventory, plan, None, seen)
        limit = settings.policy.max_changes if max_changes is None else max_changes
        with RunLock(lock_path(settings, config_path)):
            log_path = resolve_relative(settings.audit.log_path, config_path)
            audit = AuditLog(log_path) if clock is None else AuditLog(log_path, clock)
            audit.start_run(config_path=str(config_path), backend=settings.tickets.backend)
            report: ApplyReport | None = None
            try:
                # Writes a past run made but could not record are settled first, after the
                # backend is told what recent runs created (its search may not show it yet).
                held = _settled(audit, backend, audit.clock())
                seen = tuple(_observe(observations))
                inventory = inventory_of(settings, seen)
                audit.observed(inventory)
                plan = decide(inventory, backend.open_tickets(), policy, _at(now), paging=paging)
                plan.raise_if_unsafe(limit, force)
                report = apply_plan(
                    plan,
                    JournaledTicketSystem(backend, audit, held=held),
                    JournaledPager(pager, audit) if pager is not None else None,
                    on_result=_scrubbed(audit.action),
                )
            except BaseException as exc:
                # The audit trail records the exit code the process is about to exit with
                # (SIGTERM and Ctrl-C included, with what was applied before the signal); when
                # the log itself failed (a full disk), the original error is the news.
                with contextlib.suppress(AuditLogError):
                    audit.finish_run(report, exit_code_of(exc), error=_described(exc))
                raise
            audit.finish_run(report, EXIT_OK if report.ok else EXIT_RUN_ERROR)
        return RunOutcome(inventory, plan, report, seen)


def _settled(audit: AuditLog, backend: TicketSystem, now: datetime) -> dict[str, Any]:
    """Settle past intents; the creates held back because their ticket may be unsearchable yet."""
    if not isinstance(backend, LagsBehindWrites):
        return settle_open_intents(audit, backend).held
    lag = backend.index_lag
    # Twice the lag: a create recorded late in a long run is still caught by the next one.
    backend.remember_written(recent_creates(audit.path, now - timedelta(seconds=2 * lag)))
    return settle_open_intents(audit, backend, now=now, index_lag=lag).held


def _at(now: datetime | Callable[[], datetime]) -> datetime:
    return now() if callable(now) else now


def _observe(observations: Observe) -> Sequence[Observation]:
    return observations() if callable(observations) else observations


def exit_code_of(exc: BaseException) -> int:
    """The exit code the command line maps `exc` to (errors.py's table)."""
    if isinstance(exc, TicketbridgeError):
        return exc.exit_code
    if isinstance(exc, RunDeadlineExceeded):
        return exc.exit_code
    if isinstance(exc, Terminated):
        return EXIT_TERMINATED
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code
    return EXIT_RUN_ERROR


def _described(exc: BaseException) -> str:
    if isinstance(exc, RunDeadlineExceeded):
        return str(exc)
    if isinstance(exc, Terminated):
        return "terminated (SIGTERM)"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, UnsafePlan):
        return str(exc)
    # An error may quote a server: the trail keeps it scrubbed, on one short line.
    return outside_detail(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, 500)
