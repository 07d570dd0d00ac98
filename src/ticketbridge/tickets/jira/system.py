"""The Jira backend: the TicketSystem protocol on a Jira project, Cloud or Data Center."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final

from ticketbridge.core.model import MARKER_LABEL, MARKER_PREFIX, Ticket, marker_label
from ticketbridge.core.ports import (
    MAX_DESCRIPTION,
    Comment,
    NewTicket,
    TicketEdit,
    TransitionTarget,
    valid_field,
    valid_labels,
    valid_summary,
)
from ticketbridge.errors import WriteOutcomeUnknown
from ticketbridge.infra.clock import utcnow
from ticketbridge.infra.retrying import RetryPolicy, Safety
from ticketbridge.tickets.jira import fieldcheck
from ticketbridge.tickets.jira.api import Deployment, JiraApi
from ticketbridge.tickets.jira.comments import (
    comment_landed,
    post_comment,
    read_comments,
    stored_evidence,
)
from ticketbridge.tickets.jira.failures import JiraPermanentError, JiraTransientError
from ticketbridge.tickets.jira.jql import jql_quote, strip_order_by
from ticketbridge.tickets.jira.mapping import (
    FIELDS,
    INTENDED_ASSIGNEE,
    PROPERTY_KEY,
    UNASSIGNED_LABEL,
    choose_transition,
    created_key,
    evidence_value,
    issue_path,
    key_order,
    pick_transition,
    ticket_from,
    transitions_from,
    unassigned_note,
)
from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.richtext import rich
from ticketbridge.tickets.jira.search import MAX_RECONCILE, search_issues
from ticketbridge.tickets.jira.users import UserDirectory

__all__ = ["JiraPermanentError", "JiraTicketSystem", "JiraTransientError", "choose_transition"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]

RECENTLY_CLOSED_DAYS: Final = 30
# Cloud's index usually catches up within seconds: how often to look again for the marker of a
# create whose answer was lost, before concluding that it really did not happen.
CLOUD_SETTLE_DELAYS: Final = (1.0, 2.0, 4.0)


class JiraTicketSystem:
    """The TicketSystem protocol on a Jira project, Cloud or Data Center.

    Every request goes through `JiraApi`: one retry policy, one pacer, one deadline each.
    """

    def __init__(
        self,
        options: JiraOptions,
        *,
        clock: Clock = utcnow,
        sleep: Sleep = time.sleep,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.api = JiraApi(options, clock=clock, sleep=sleep, retry_policy=retry_policy)
        self._options = options
        self._url = self.api.url
        self._sleep = sleep
        self._labels = valid_labels(tuple(options.labels))
        self._users = UserDirectory(self.api, options.project)
        self._properties: bool | None = None  # unknown until a write says otherwise
        # Issues written by this process, newest last: Cloud's search index may not show them
        # yet, so searches name them in reconcileIssues and marker lookups fetch them by key.
        self._written: OrderedDict[str, None] = OrderedDict()
        self._marker_keys: dict[str, set[str]] = {}
        self._ids: dict[str, int] = {}  # issue key -> id, learnt from every issue read
        self._recent: dict[str, Ticket] = {}  # created by recent runs, read by key

    def __repr__(self) -> str:
        return (
            f"JiraTicketSystem(url={self._url!r}, project={self._options.project!r}, "
            f"deployment={self._options.deployment!r})"
        )

    def close(self) -> None:
        self.api.close()

    def __enter__(self) -> JiraTicketSystem:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def deployment(self) -> Deployment:
        return self.api.deployment

    # -- the TicketSystem protocol ---------------------------------------------------------------

    def open_tickets(self) -> Sequence[Ticket]:
        """One paginated search: the adoption scope, plus marker tickets closed recently."""
        project = jql_quote(self._options.project)
        adopt = strip_order_by(self._options.adopt_jql) or (
            f"project = {project} AND statusCategory != Done"
        )
        # A workflow without a resolution screen closes tickets with no resolution date: those
        # count as recently closed by their last update, or they could never be reopened.
        days = RECENTLY_CLOSED_DAYS
        closed = (
            f"project = {project} AND labels = {jql_quote(MARKER_LABEL)} "
            f"AND statusCategory = Done AND (resolved >= -{days}d "
            f"OR (resolved is EMPTY AND updated >= -{days}d))"
        )
        found = self._search(f"({adopt}) OR ({closed}) ORDER BY key ASC")
        # What recent runs created, read by key (consistent) where the index may lag.
        listed = {t.key for t in found}
        found += [t for key, t in self._recent.items() if key not in listed and t.marker_ids]
        # JQL cannot match a label prefix: a closed ticket counts only with a `tb-` marker.
        return [ticket for ticket in found if ticket.is_open or ticket.marker_ids]

    @property
    def index_lag(self) -> float:
        return self._options.index_lag_seconds

    def remember_written(self, keys: Sequence[str]) -> None:
        """Tickets recent runs created (the audit trail's keys): read by key now, named in
        Cloud's reconcileIssues and read again by key in every marker lookup of this run."""
        for key in keys:
            try:
                ticket = self._fetch(key)
            except JiraPermanentError as exc:
                if exc.status == 404:  # deleted (or moved) since: nothing to see
                    continue
                raise
            self._recent[key] = ticket
            self._remember(key, ticket.labels)

    def find_by_marker(self, certificate_id: str) -> Sequence[Ticket]:
        marker = marker_label(certificate_id)
        query = (
            f"project = {jql_quote(self._options.project)} AND labels = {jql_quote(marker)} "
            "ORDER BY key ASC"
        )
        found = {ticket.key: ticket for ticket in self._search(query)}
        if not self.api.cloud:
            # DC's search returns no issue properties (SearchRequestBean has no `properties`);
            # GET issue does, and a marker lookup precedes a write, never a converged run.
            found = {key: self._fetch(key) for key in found}
        # Read-after-write: what this process marked is fetched by key (always consistent)
        # in case the search index has not caught up with it.
        for key in sorted(self._marker_keys.get(marker, set()) - set(found)):
            try:
                ticket = self._fetch(key)
            except JiraPermanentError as exc:
                if exc.status == 404:
                    continue
                raise
            if marker in ticket.labels:
                found[key] = ticket
        return sorted(found.values(), key=lambda ticket: (ticket.created, key_order(ticket.key)))

    def with_tracked_endpoints(
        self, tickets: Sequence[Ticket], observed: Collection[str]
    ) -> list[Ticket]:
        """`tickets`, with the tracked endpoints read for marker tickets whose certificate
        `observed` lacks; only Data Center needs it (Cloud's search returns the property)."""
        if self.api.cloud:
            return list(tickets)
        return [
            self._fetch(ticket.key)
            if ticket.marker_ids and not set(ticket.marker_ids) & set(observed)
            else ticket
            for ticket in tickets
        ]

    def create(self, ticket: NewTicket, comment: str) -> Ticket:
        summary = valid_summary(ticket.summary)
        labels = valid_labels((*ticket.labels, *self._labels))
        assignee = None if ticket.assignee is None else valid_field("assignee", ticket.assignee)
        priority = None if ticket.priority is None else valid_field("priority", ticket.priority)
        evidence = evidence_value({"certificate_id": ticket.certificate_id, **ticket.evidence})
        person = None if assignee is None else self._users.reference(assignee)
        if assignee is not None and person is None:
            # Filed unassigned rather than failing every run; the evidence names the owner.
            labels = valid_labels((*labels, UNASSIGNED_LABEL))
            evidence[INTENDED_ASSIGNEE] = assignee
            comment = f"{comment}\n\n{unassigned_note(assignee, self._users.problem(assignee))}"
        comment_body = self._rich(comment, "comment")
        # Configured fields first: what ticketbridge sets itself (priority, assignee) wins.
        fields: dict[str, Any] = {
            **self._options.create_defaults,
            "project": {"key": self._options.project},
            "issuetype": {"name": self._options.issue_type},
            "summary": summary,
            "description": self._rich(ticket.description, "description", cut=True),
            "duedate": ticket.due_date.isoformat(),
            "labels": list(labels),
        }
        if priority is not None:
            fields["priority"] = {"name": priority}
        if person is not None:
            fields["assignee"] = person
        marker = marker_label(ticket.certificate_id)
        what = f"create a ticket for {marker}"
        try:
            created = self.api.call(
                "POST",
                "issue",
                body={"fields": fields},
                safety=Safety.UNSAFE,
                # A create whose answer was lost may have been filed: look for the marker and
                # adopt what is there; found nowhere, it is never sent again in this run.
                verify=(lambda: self._settled_marker(marker, what)) if marker in labels else None,
                what=what,
            )
        except JiraTransientError as exc:
            if not exc.failure.delivered:
                raise
            raise WriteOutcomeUnknown(f"{exc}; the create may have landed: not sent again") from exc
        key, issue_id = created_key(created)
        self._ids[key] = issue_id
        self._remember(key, labels)
        self._put_evidence(key, evidence)
        post_comment(self.api, key, comment_body, comment)
        return self._fetch(key)

    def edit(self, key: str, edit: TicketEdit, comment: str) -> Ticket:
        labels = valid_labels(edit.add_labels)
        if any(label.startswith(MARKER_PREFIX) for label in labels):
            labels = valid_labels((*labels, *self._labels))
        priority = None if edit.priority is None else valid_field("priority", edit.priority)
        assignee = None if edit.assignee is None else valid_field("assignee", edit.assignee)
        evidence = None if edit.evidence is None else evidence_value(edit.evidence)
        fields: dict[str, Any] = {}
        if edit.due_date is not None:
            fields["duedate"] = edit.due_date.isoformat()
        if priority is not None:
            fields["priority"] = {"name": priority}
        person = None if assignee is None else self._users.reference(assignee)
        if person is not None:
            fields["assignee"] = person
        elif assignee is not None:
            labels = valid_labels((*labels, UNASSIGNED_LABEL))
            evidence = {**(evidence or stored_evidence(self.api, key)), INTENDED_ASSIGNEE: assignee}
            comment = f"{comment}\n\n{unassigned_note(assignee, self._users.problem(assignee))}"
        update: dict[str, Any] = {"comment": [{"add": {"body": self._rich(comment, "comment")}}]}
        if labels:
            update["labels"] = [{"add": label} for label in labels]
        if evidence is not None:
            # Before the edit: a crash in between leaves the edit to the next run, which then
            # sees the fresh evidence; the reverse order could leave stale tracked endpoints.
            self._put_evidence(key, evidence)
        # Fields, labels and the comment travel in one PUT: they land together or not at all,
        # so the comment is the witness that an edit whose answer was lost did land.
        self.api.call(
            "PUT",
            f"issue/{issue_path(key)}",
            body={"fields": fields, "update": update},
            safety=Safety.UNSAFE,
            verify=lambda: comment_landed(self.api, key, comment),
            what=f"edit {key}",
        )
        self._remember(key, labels)
        return self._fetch(key)

    def add_comment(self, key: str, body: str) -> None:
        post_comment(self.api, key, self._rich(body, "comment"), body)

    def transition(self, key: str, target: TransitionTarget, comment: str) -> Ticket:
        if target not in ("done", "reopen"):
            raise JiraPermanentError(f"unknown transition {target!r}")
        body_text = self._rich(comment, "comment")
        before = self._fetch(key)
        if target == "done" and not before.is_open:
            raise JiraPermanentError(f"{key} is already {before.status}")
        if target == "reopen" and before.is_open:
            raise JiraPermanentError(f"{key} is not closed ({before.status})")
        wanted = (
            self._options.done_transition if target == "done" else self._options.reopen_transition
        )
        chosen = pick_transition(key, before.status, self.transitions_of(key), target, wanted)
        screen = chosen.get("fields") or {}
        request: dict[str, Any] = {"transition": {"id": str(chosen["id"])}}
        # Raises, writing nothing, when the screen requires a field that neither sets.
        if fields := fieldcheck.transition_fields(self._options, key, target, chosen):
            request["fields"] = fields
        # On the transition screen the comment lands with the transition, atomically; without
        # a screen Jira may refuse it there, so it follows as a comment of its own.
        with_comment = "comment" in screen
        if with_comment:
            request["update"] = {"comment": [{"add": {"body": body_text}}]}
        self.api.call(
            "POST",
            f"issue/{issue_path(key)}/transitions",
            body=request,
            safety=Safety.UNSAFE,
            verify=lambda: self._moved(key, target),
            what=f"{target} {key} ({chosen.get('name')})",
        )
        self._remember(key, ())
        if not with_comment:
            post_comment(self.api, key, body_text, comment)
        return self._fetch(key)

    def comments(self, key: str) -> Sequence[Comment]:
        return read_comments(self.api, key)

    # -- what doctor asks ------------------------------------------------------------------------

    def screen_problems(
        self, *, creates: bool, transitions: Sequence[tuple[str, TransitionTarget]]
    ) -> list[str]:
        """`ChecksScreens` (core.ports): what the screens would refuse, one line each."""
        return fieldcheck.problem_lines(
            self.api, self._options, self.transitions_of, creates, transitions
        )

    def sample_ticket(self, *, done: bool) -> Ticket | None:
        """The newest ticket of the project in (or out of) the done category, if any."""
        query = (
            f"project = {jql_quote(self._options.project)} AND statusCategory "
            f"{'=' if done else '!='} Done ORDER BY created DESC"
        )
        found = self._search(query, limit=1)
        return found[0] if found else None

    def transitions_of(self, key: str) -> list[dict[str, Any]]:
        """The transitions Jira offers for `key` now, with their screens' fields."""
        what = f"list the transitions of {key}"
        answer = self.api.call(
            "GET",
            f"issue/{issue_path(key)}/transitions",
            params={"expand": "transitions.fields"},
            safety=Safety.READ,
            what=what,
        )
        return transitions_from(answer, what)

    # -- reading ---------------------------------------------------------------------------------

    def _search(self, query: str, limit: int | None = None) -> list[Ticket]:
        """Every ticket the query matches (or the first `limit`), page by page."""
        issues = search_issues(self.api, query, limit=limit, reconcile=self._reconcile_ids)
        return [self._ticket(raw) for raw in issues]

    def _fetch(self, key: str) -> Ticket:
        raw = self.api.call(
            "GET",
            f"issue/{issue_path(key)}",
            params={"fields": ",".join(FIELDS), "properties": PROPERTY_KEY},
            safety=Safety.READ,
            what=f"read {key}",
        )
        return self._ticket(raw, f"read {key}")

    def _ticket(self, raw: Any, what: str = "search") -> Ticket:
        ticket = ticket_from(raw, self._url, what)
        if raw.get("id"):
            self._ids[ticket.key] = int(raw["id"])
        return ticket

    # -- writing ---------------------------------------------------------------------------------

    def _rich(self, text: str, name: str, *, cut: bool = False) -> Any:
        """Rich text within the limit: Cloud's fixed one, or Data Center's configured one."""
        cloud = self.api.cloud
        limit = MAX_DESCRIPTION if cloud else self._options.max_text_length
        return rich(text, name, cloud, cut=cut, limit=limit)

    def _moved(self, key: str, target: TransitionTarget) -> bool | None:
        ticket = self._fetch(key)
        return True if ticket.is_open == (target == "reopen") else None

    def _settled_marker(self, marker: str, what: str) -> dict[str, Any]:
        """The oldest open ticket carrying `marker`, looking again while Cloud's index settles;
        WriteOutcomeUnknown when none shows (the create stays an open intent)."""
        delays = CLOUD_SETTLE_DELAYS if self.api.cloud else ()
        for delay in (*delays, None):
            query = (
                f"project = {jql_quote(self._options.project)} AND labels = {jql_quote(marker)} "
                "AND statusCategory != Done ORDER BY created ASC"
            )
            found = self._search(query)
            if found:
                oldest = min(found, key=lambda ticket: (ticket.created, key_order(ticket.key)))
                log.warning("a lost create had filed %s; adopting it", oldest.key)
                return {"key": oldest.key, "id": self._ids[oldest.key]}
            if delay is not None:
                self._sleep(delay)
        raise WriteOutcomeUnknown(
            f"{what}: the answer was lost and the search does not show the ticket (yet); "
            "not sent again: a later run settles it"
        )

    def _put_evidence(self, key: str, evidence: dict[str, Any]) -> None:
        if self._properties is False:
            return
        try:
            self.api.call(
                "PUT",
                f"issue/{issue_path(key)}/properties/{PROPERTY_KEY}",
                body=evidence,
                safety=Safety.IDEMPOTENT,
                what=f"store the evidence of {key}",
            )
        except JiraPermanentError as exc:
            if exc.status != 404:
                raise
            self._fetch(key)  # a missing issue raises here; otherwise the server has no properties
            log.info("%s does not support issue properties; evidence stays in comments", self._url)
            self._properties = False
            return
        self._properties = True

    def _remember(self, key: str, labels: Iterable[str]) -> None:
        """Note a write: Cloud's index may lag behind it for a while."""
        self._written[key] = None
        self._written.move_to_end(key)
        while len(self._written) > MAX_RECONCILE:
            self._written.popitem(last=False)
        for label in labels:
            if label.startswith(MARKER_PREFIX):
                self._marker_keys.setdefault(label, set()).add(key)

    def _reconcile_ids(self) -> list[int]:
        return [self._ids[key] for key in self._written if key in self._ids]
