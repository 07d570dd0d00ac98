"""The shell around the pure core: gather, decide, the safety gate, act; the CLI calls only this."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from ticketbridge.app.config import Settings
from ticketbridge.app.gather import gather, inventory_pins, resolve_relative, scan
from ticketbridge.app.runlock import RunLock
from ticketbridge.app.wiring import lock_path, opened, policy_of
from ticketbridge.audit import AuditLog
from ticketbridge.core.apply import ActionResult, ApplyReport, apply_plan
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory, build_inventory
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import Plan
from ticketbridge.core.ports import Pager, TicketSystem
from ticketbridge.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, UnsafePlan
from ticketbridge.infra.clock import utcnow_seconds as utcnow
from ticketbridge.infra.scrub import outside_detail

# Exit codes the audit trail records for a run (the CLI maps the same outcomes to the same codes).
EXIT_OK, EXIT_RUN_ERROR, EXIT_UNSAFE_PLAN = 0, 1, 4

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
    # With no on-call sink configured a page would reach nobody: it is not planned at all.
    return decide(inventory, tickets.open_tickets(), policy, now, paging=paging)


@dataclass(frozen=True, slots=True)
class RunOutcome:
    inventory: Inventory
    plan: Plan
    report: ApplyReport | None  # None for a dry run

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
        inventory = inventory_of(settings, observations)
        if dry_run:
            plan = plan_for(
                settings, config_path, inventory, backend, now=now, paging=pager is not None
            )
            return RunOutcome(inventory, plan, None)
        limit = settings.policy.max_changes if max_changes is None else max_changes
        with RunLock(lock_path(settings, config_path)):
            audit = AuditLog(resolve_relative(settings.audit.log_path, config_path))
            audit.start_run(config_path=str(config_path), backend=settings.tickets.backend)
            report: ApplyReport | None = None
            try:
                audit.observed(inventory)
                plan = plan_for(
                    settings, config_path, inventory, backend, now=now, paging=pager is not None
                )
                plan.raise_if_unsafe(limit, force)
                report = apply_plan(plan, backend, pager, on_result=_scrubbed(audit.action))
            except UnsafePlan as exc:
                audit.finish_run(None, EXIT_UNSAFE_PLAN, error=str(exc))
                raise
            except Exception as exc:
                detail = outside_detail(f"{type(exc).__name__}: {exc}", 500)
                audit.finish_run(report, EXIT_RUN_ERROR, error=detail)
                raise
            except KeyboardInterrupt as exc:
                # Ctrl-C, or SIGTERM (a `Terminated`): the run is closed in the trail, with what
                # was applied before the signal, and the exit code the process will have.
                if isinstance(exc, Terminated):
                    audit.finish_run(report, EXIT_TERMINATED, error="terminated (SIGTERM)")
                else:
                    audit.finish_run(report, EXIT_INTERRUPTED, error="interrupted")
                raise
            audit.finish_run(report, EXIT_OK if report.ok else EXIT_RUN_ERROR)
        return RunOutcome(inventory, plan, report)
