"""The executor: carries a plan out against a TicketSystem and a Pager, one ticket at a time."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ticketbridge.core.model import Ticket
from ticketbridge.core.plan import PAGED_LABEL, Action, ActionKind, PageEvent, Plan, natural_key
from ticketbridge.core.ports import NewTicket, Pager, TicketEdit, TicketSystem, TransitionTarget
from ticketbridge.core.timefmt import iso_z
from ticketbridge.errors import BackendError, PagerError, WriteOutcomeUnknown


class NullPager:
    """No on-call sinks configured: page events go nowhere, and that is not an error."""

    def send(self, event: PageEvent) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What happened to one action: written or not, and why not."""

    action: Action
    applied: bool
    error: str | None = None
    # The ticket written: the new key for a create, or the one found by its marker instead.
    ticket: str | None = None
    note: str | None = None
    # The write may have landed (its answer was lost): the intent stays open for a later run.
    outcome_unknown: bool = False

    def as_dict(self) -> dict[str, Any]:
        document = self.action.as_dict()
        document["ticket"] = self.ticket or self.action.ticket
        document["applied"] = self.applied
        document["error"] = self.error
        if self.note:
            document["note"] = self.note
        if self.outcome_unknown:
            document["outcome_unknown"] = True
        return document


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """The plan as carried out: one result per action, in plan order."""

    plan: Plan
    results: tuple[ActionResult, ...]

    @property
    def failures(self) -> tuple[ActionResult, ...]:
        return tuple(result for result in self.results if result.error is not None)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def applied(self) -> int:
        return sum(1 for result in self.results if result.applied)

    def as_dict(self) -> dict[str, Any]:
        """SPEC's `reconcile --format json`: the plan's shape with `applied` per action."""
        return {
            "generated_at": iso_z(self.plan.generated_at),
            "summary": self.plan.summary,
            "writes": self.plan.writes,
            "applied": self.applied,
            "failed": len(self.failures),
            "actions": [result.as_dict() for result in self.results],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.as_dict(), indent=indent, ensure_ascii=False)


ResultCallback = Callable[[ActionResult], None]


def apply_plan(
    plan: Plan,
    tickets: TicketSystem,
    pager: Pager | None = None,
    *,
    on_result: ResultCallback | None = None,
) -> ApplyReport:
    """Carry out every write of `plan`; a failed write is recorded and the rest go ahead.

    Each ticket gets at most one edit and one evidence comment (a reopen or resolve is a
    transition carrying the comment). `on_result` sees each result as it happens, e.g. for
    an audit log that must survive a crash half-way through.
    """
    sink: Pager = pager if pager is not None else NullPager()
    outcome: dict[int, ActionResult] = {}

    def record(result: ActionResult) -> None:
        outcome[id(result.action)] = result
        if on_result is not None:
            on_result(result)

    for _, actions in plan.groups():
        _Group(actions, tickets, sink, record).run()
    for action in plan.actions:
        if not action.writes:
            record(ActionResult(action, applied=False, note="report only"))
    return ApplyReport(plan=plan, results=tuple(outcome[id(action)] for action in plan.actions))


class _Group:
    """All write actions on one ticket (or one ticket to be created), applied together."""

    def __init__(
        self,
        actions: Sequence[Action],
        tickets: TicketSystem,
        pager: Pager,
        record: Callable[[ActionResult], None],
    ) -> None:
        self.actions = list(actions)
        self.tickets = tickets
        self.pager = pager
        self.record = record
        self.key: str | None = actions[0].ticket
        self.url: str | None = actions[0].ticket_url
        self.comment = actions[0].comment or _fallback_comment(actions)
        self.done: set[int] = set()

    def of(self, kind: ActionKind) -> list[Action]:
        return [action for action in self.actions if action.kind is kind]

    def succeed(self, action: Action, note: str | None = None) -> None:
        if id(action) not in self.done:
            self.done.add(id(action))
            self.record(ActionResult(action, applied=True, ticket=self.key, note=note))

    def fail(self, action: Action, error: str, *, unknown: bool = False) -> None:
        if id(action) not in self.done:
            self.done.add(id(action))
            self.record(
                ActionResult(
                    action, applied=False, error=error, ticket=self.key, outcome_unknown=unknown
                )
            )

    def fail_rest(self, error: str, *, unknown: bool = False) -> None:
        for action in self.actions:
            self.fail(action, error, unknown=unknown)

    def run(self) -> None:
        edits: list[tuple[Action, TicketEdit]] = []
        creates = self.of(ActionKind.CREATE)
        if creates and not self._create(creates[0], edits):
            return
        for action in self.of(ActionKind.REOPEN):
            if not self._transition(action, "reopen"):
                return
        for action in self.of(ActionKind.RESOLVE):
            self._resolve(action)
        page_failures = self._pages(edits)
        for action in self.actions:
            edited = action.kind in (ActionKind.UPDATE, ActionKind.ESCALATE, ActionKind.DUPLICATE)
            if edited and action.edit is not None:
                edits.append((action, action.edit))
        self._edit(edits, page_failures)

    def _create(self, action: Action, edits: list[tuple[Action, TicketEdit]]) -> bool:
        new_ticket = action.new_ticket
        if new_ticket is None:
            self.fail_rest("create action without a ticket to create")
            return False
        try:
            # Never blindly create: a ticket carrying the marker may exist from a run that
            # crashed after creating it, or from another scheduler racing this one.
            found = self.tickets.find_by_marker(new_ticket.certificate_id)
            # A ticket carrying several markers is ambiguous: the planner never writes to it.
            mine = (new_ticket.certificate_id,)
            existing = sorted(
                (t for t in found if t.is_open and tuple(set(t.marker_ids)) == mine),
                key=_oldest_first,
            )
            if existing:
                self.key, self.url = existing[0].key, existing[0].url
                edits.append((action, _edit_from(new_ticket)))
                # The escalated priority travels in that edit: they succeed or fail together.
                edits.extend((escalation, TicketEdit()) for escalation in self._with_create())
                return True
            created = self.tickets.create(new_ticket, self.comment)
        except BackendError as exc:
            self.fail_rest(f"create failed: {exc}", unknown=isinstance(exc, WriteOutcomeUnknown))
            return False
        self.key, self.url = created.key, created.url
        self.succeed(action)
        for escalation in self._with_create():
            self.succeed(escalation)
        return True

    def _with_create(self) -> list[Action]:
        """Escalations of a ticket still to be created: its priority is part of the create."""
        return [action for action in self.of(ActionKind.ESCALATE) if action.edit is None]

    def _transition(self, action: Action, target: TransitionTarget) -> bool:
        assert self.key is not None
        try:
            self.tickets.transition(self.key, target, self.comment)
        except BackendError as exc:
            self.fail(action, f"{target} failed: {exc}")
            self.fail_rest(f"not attempted: {target} of {self.key} failed")
            return False
        self.succeed(action)
        return True

    def _resolve(self, action: Action) -> None:
        # The page is resolved first: if closing the ticket then fails, the next run plans the
        # resolve again and a repeated resolve event is harmless; the reverse order could leave
        # on-call paged about a ticket that no run looks at any more.
        if action.paged and action.page is not None:
            try:
                self.pager.send(action.page)
            except PagerError as exc:
                self.fail(action, f"resolving the page failed: {exc}")
                return
        self._transition(action, "done")

    def _pages(self, edits: list[tuple[Action, TicketEdit]]) -> list[str]:
        failures = []
        for action in self.of(ActionKind.PAGE):
            assert action.page is not None and self.key is not None
            try:
                self.pager.send(action.page.for_ticket(self.key, self.url))
            except PagerError as exc:
                self.fail(action, f"page failed: {exc}")
                failures.append(f"paging on-call failed ({exc}); the next run pages again")
                continue
            # The label records that on-call was paged, so the next run does not page again.
            edits.append((action, TicketEdit(add_labels=(PAGED_LABEL,))))
        return failures

    def _edit(self, edits: list[tuple[Action, TicketEdit]], notes: list[str]) -> None:
        if not edits:
            return
        assert self.key is not None
        only_page_label = all(action.kind is ActionKind.PAGE for action, _ in edits)
        created_here = any(
            action.kind is ActionKind.CREATE and id(action) in self.done for action in self.actions
        )
        if created_here and only_page_label:
            # The create already carried the evidence comment; this one records the page.
            page = next(action.page for action, _ in edits if action.page is not None)
            comment = f"ticketbridge paged on-call (dedup key {page.dedup_key}): {page.summary}"
        else:
            comment = "\n\n".join([self.comment, *notes])
        try:
            self.tickets.edit(self.key, _merge([edit for _, edit in edits]), comment)
        except BackendError as exc:
            for action, _ in edits:
                self.fail(action, f"edit of {self.key} failed: {exc}")
            return
        for action, _ in edits:
            note = (
                f"{self.key} already carried the marker: edited instead of created"
                if action.kind is ActionKind.CREATE
                else None
            )
            self.succeed(action, note)


def _oldest_first(ticket: Ticket) -> tuple[Any, ...]:
    return (ticket.created, natural_key(ticket.key))


def _edit_from(new_ticket: NewTicket) -> TicketEdit:
    return TicketEdit(
        due_date=new_ticket.due_date,
        add_labels=new_ticket.labels,
        priority=new_ticket.priority,
        assignee=new_ticket.assignee,
        evidence=new_ticket.evidence,
    )


def _merge(edits: Sequence[TicketEdit]) -> TicketEdit:
    """One edit from several: later values win, labels accumulate in order."""
    due_date, priority, assignee, evidence = None, None, None, None
    labels: dict[str, None] = {}
    for edit in edits:
        due_date = edit.due_date if edit.due_date is not None else due_date
        priority = edit.priority if edit.priority is not None else priority
        assignee = edit.assignee if edit.assignee is not None else assignee
        evidence = edit.evidence if edit.evidence is not None else evidence
        labels.update(dict.fromkeys(edit.add_labels))
    return TicketEdit(
        due_date=due_date,
        add_labels=tuple(labels),
        priority=priority,
        assignee=assignee,
        evidence=evidence,
    )


def _fallback_comment(actions: Sequence[Action]) -> str:
    """For hand-built plans without comments: every write still says why."""
    return "\n".join(f"ticketbridge {action.kind}: {action.reason}." for action in actions)
