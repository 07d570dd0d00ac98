"""The shell around the pure core: gather, decide, the safety gate, act; the CLI calls only this."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ticketbridge.app.approved import SavedPlan
from ticketbridge.app.config import Settings
from ticketbridge.app.gather import gather, inventory_pins, resolve_relative, scan
from ticketbridge.app.runlock import RunLock
from ticketbridge.app.screencheck import check_screens
from ticketbridge.app.wiring import exceptions_of, lock_path, opened, policy_of
from ticketbridge.audit import AuditLog
from ticketbridge.audit.intents import (
    JournaledPager,
    JournaledTicketSystem,
    recent_creates,
    settle_open_intents,
)
from ticketbridge.audit.records import Approval
from ticketbridge.core.apply import ActionResult, ApplyReport, apply_plan
from ticketbridge.core.approval import PlanFacts, plan_id, stale_reasons
from ticketbridge.core.ctfindings import IssuedNotDeployed
from ticketbridge.core.decide import decide
from ticketbridge.core.inventory import Inventory, build_inventory
from ticketbridge.core.model import Observation
from ticketbridge.core.plan import Plan
from ticketbridge.core.policy import Policy
from ticketbridge.core.ports import (
    CompletesTrackedEndpoints,
    LagsBehindWrites,
    Pager,
    TicketSystem,
)
from ticketbridge.core.undeployed import undeployed_by_certificate
from ticketbridge.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_RUN_ERROR,
    EXIT_TERMINATED,
    AuditLogError,
    RunDeadlineExceeded,
    StalePlan,
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
    return decide(
        inventory, open_now, policy, now, paging=paging, exceptions=exceptions_of(settings)
    )


@dataclass(frozen=True, slots=True)
class RunOutcome:
    inventory: Inventory
    plan: Plan
    report: ApplyReport | None  # None for a dry run
    observations: tuple[Observation, ...] = ()  # what the run gathered, for its metrics
    facts: PlanFacts | None = None  # what the plan was made from, for a saved plan

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


def reconcile(  # noqa: PLR0913 - keyword-only collaborators, each with a default
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
    approved: SavedPlan | None = None,
    on_result: Callable[[ActionResult], None] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> RunOutcome:
    """Validate, lock, observe, plan, refuse an unsafe or stale plan, apply (unless a dry run).

    The order is the point: a config error is found in a second, not after a scan of the fleet,
    and a run waiting on the lock never scans. `now` may be a clock, read once the observations
    are in; with `approved` (a saved plan) nothing is written unless the fresh plan is that
    plan; `clock` is what the audit trail and the index-lag rule read (tests simulate it)."""
    policy = policy_of(settings, config_path)
    paging = pager is not None
    with contextlib.ExitStack() as stack:
        backend = tickets if tickets is not None else opened(stack, settings, config_path)
        if dry_run:
            return _dry_run(
                settings, config_path, observations, backend, policy, now, paging, approved
            )
        limit = settings.policy.max_changes if max_changes is None else max_changes
        with RunLock(lock_path(settings, config_path)):
            audit = _audit_started(settings, config_path, approved, clock)
            report: ApplyReport | None = None
            try:
                # Past unrecorded writes are settled first, against what recent runs created.
                held = _settled(audit, backend, audit.clock())
                seen = tuple(_observe(observations))
                inventory = inventory_of(settings, seen)
                audit.observed(inventory)
                _record_ct_findings(audit, settings, config_path, inventory, _at(now))
                plan, facts = _decided(
                    settings, config_path, inventory, backend, policy, _at(now), paging
                )
                _record_plan(audit, plan, facts, approved)
                plan.raise_if_unsafe(limit, force)
                check_screens(backend, plan, config_path)
                report = apply_plan(
                    plan,
                    JournaledTicketSystem(backend, audit, held=held),
                    JournaledPager(pager, audit) if pager is not None else None,
                    on_result=_both(_scrubbed(audit.action), on_result),
                )
            except BaseException as exc:
                # The trail records the exit code about to be returned (signals included); when
                # the log itself failed (a full disk), the original error is the news.
                with contextlib.suppress(AuditLogError):
                    audit.finish_run(report, exit_code_of(exc), error=_described(exc))
                raise
            audit.finish_run(report, EXIT_OK if report.ok else EXIT_RUN_ERROR)
        return RunOutcome(inventory, plan, report, seen, facts)


def _audit_started(
    settings: Settings,
    config_path: Path,
    approved: SavedPlan | None,
    clock: Callable[[], datetime] | None,
) -> AuditLog:
    """The trail, with this run's `run_started`: the policy in force and who approved it."""
    log_path = resolve_relative(settings.audit.log_path, config_path)
    audit = AuditLog(log_path) if clock is None else AuditLog(log_path, clock)
    audit.start_run(
        config_path=str(config_path),
        backend=settings.tickets.backend,
        policy=settings.policy.model_dump(),
        approval=Approval(approved.approved_by, approved.plan_id) if approved else Approval(),
    )
    return audit


def _dry_run(  # noqa: PLR0917 - reconcile's own arguments, passed on
    settings: Settings,
    config_path: Path,
    observations: Observe,
    backend: TicketSystem,
    policy: Policy,
    now: datetime | Callable[[], datetime],
    paging: bool,
    approved: SavedPlan | None,
) -> RunOutcome:
    """Plan without the lock or the audit trail; with a saved plan, refuse it if it is stale."""
    seen = tuple(_observe(observations))
    inventory = inventory_of(settings, seen)
    plan, facts = _decided(settings, config_path, inventory, backend, policy, _at(now), paging)
    if approved is not None:
        _refuse_if_stale(approved, plan, facts, None)
    return RunOutcome(inventory, plan, None, seen, facts)


def _decided(  # noqa: PLR0917 - what a plan is made from, each named
    settings: Settings,
    config_path: Path,
    inventory: Inventory,
    backend: TicketSystem,
    policy: Policy,
    now: datetime,
    paging: bool,
) -> tuple[Plan, PlanFacts]:
    """The plan, and the facts it was made from (what a saved plan is compared on)."""
    open_now = tuple(backend.open_tickets())
    exceptions = exceptions_of(settings)
    plan = decide(
        inventory,
        open_now,
        policy,
        now,
        paging=paging,
        exceptions=exceptions,
        undeployed=_undeployed(settings, config_path, inventory, now),
    )
    return plan, PlanFacts.of(inventory, open_now)


def _undeployed(
    settings: Settings, config_path: Path, inventory: Inventory, now: datetime
) -> dict[str, IssuedNotDeployed]:
    """With `ticket_undeployed_renewals`, each certificate's renewal that CT shows issued and
    no endpoint serves; otherwise none (they stay findings)."""
    if not settings.policy.ticket_undeployed_renewals:
        return {}
    from ticketbridge.app.sources import ct_findings_of

    findings = ct_findings_of(settings, config_path, inventory, now)
    return undeployed_by_certificate(findings.issued_not_deployed if findings else ())


def _record_plan(audit: AuditLog, plan: Plan, facts: PlanFacts, approved: SavedPlan | None) -> None:
    """The plan's id and inputs, each exception's standing, and a refusal if it is stale."""
    audit.planned(plan_id(plan), facts.inputs(), plan.writes)
    for standing in plan.exceptions:
        audit.exception(standing)
    if approved is not None:
        _refuse_if_stale(approved, plan, facts, audit)


def _refuse_if_stale(
    approved: SavedPlan, plan: Plan, facts: PlanFacts, audit: AuditLog | None
) -> None:
    """Raise StalePlan (exit 6), recorded with its reasons, unless `plan` is the approved one."""
    fresh = plan_id(plan)
    if fresh == approved.plan_id:
        return
    reasons = tuple(stale_reasons(approved.document, plan, facts))
    if audit is not None:
        audit.plan_stale(fresh, reasons)
    raise StalePlan(approved.path, approved.plan_id, fresh, reasons)


def _both(
    record: Callable[[ActionResult], None], watch: Callable[[ActionResult], None] | None
) -> Callable[[ActionResult], None]:
    """The audit record first (it must survive a crash), then whoever watches the run."""
    if watch is None:
        return record

    def both(result: ActionResult) -> None:
        record(result)
        watch(result)

    return both


def _record_ct_findings(
    audit: AuditLog, settings: Settings, config_path: Path, inventory: Inventory, now: datetime
) -> None:
    """Issued versus served, into the trail the auditor's report reads (`[[sources.ct]]`)."""
    from ticketbridge.app.sources import ct_findings_of

    findings = ct_findings_of(settings, config_path, inventory, now)
    if findings is not None:
        audit.ct_findings(findings)


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
