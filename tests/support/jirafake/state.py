"""The fake Jira's state: catalogue (projects, users, statuses, workflow) and issue records.

Everything here is plain data that tests may read and seed directly; the HTTP layer in server.py
is the only writer during a run and holds the fake's lock while it writes.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CATEGORIES",
    "Comment",
    "FakeState",
    "HistoryEntry",
    "IssueRecord",
    "Project",
    "Status",
    "StatusCategory",
    "Transition",
    "User",
    "default_transitions",
    "jira_timestamp",
]


def jira_timestamp(moment: dt.datetime) -> str:
    """Jira's timestamp format, e.g. `2026-11-26T21:30:00.000+0000` (always rendered in UTC)."""
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class StatusCategory:
    id: int
    key: str
    name: str
    color: str


CATEGORIES = {
    "new": StatusCategory(2, "new", "To Do", "blue-gray"),
    "indeterminate": StatusCategory(4, "indeterminate", "In Progress", "yellow"),
    "done": StatusCategory(3, "done", "Done", "green"),
}


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # a key of CATEGORIES


@dataclass(frozen=True)
class Transition:
    """A workflow transition.

    `sources` are the status names it starts from (empty: a global transition). `screen` is the
    set of fields the transition screen accepts (Jira refuses others with 400). Entering a done
    status without a resolution applies `auto_resolution` (the post-function a default workflow
    has); `clears_resolution` is the reopen post-function.
    """

    id: str
    name: str
    to: str
    sources: tuple[str, ...] = ()
    screen: frozenset[str] = frozenset()
    auto_resolution: str | None = None
    clears_resolution: bool = False
    # The resolutions the screen offers (its `allowedValues`); empty: every resolution.
    resolutions: tuple[str, ...] = ()


def default_transitions(
    *,
    start: str = "Start Progress",
    stop: str = "Stop Progress",
    done: str = "Done",
    reopen: str = "Reopen",
) -> tuple[Transition, ...]:
    """Jira's simplified workflow, with names a test may change to mimic a customised one."""
    return (
        Transition("11", start, "In Progress", sources=("To Do",)),
        Transition("21", stop, "To Do", sources=("In Progress",)),
        Transition(
            "31",
            done,
            "Done",
            sources=("To Do", "In Progress"),
            screen=frozenset({"resolution", "comment"}),
            auto_resolution="Done",
        ),
        Transition("41", reopen, "To Do", sources=("Done",), clears_resolution=True),
    )


@dataclass(frozen=True)
class User:
    account_id: str  # Cloud identity
    name: str  # Data Center identity (username)
    display_name: str
    email: str
    key: str = ""
    # Cloud profile visibility: a hidden e-mail is neither shown nor matched by user search.
    email_visible: bool = True
    # A deactivated account: still found by key, never assignable (see screens.py).
    active: bool = True

    def identifiers(self) -> set[str]:
        return {self.account_id, self.name, self.display_name, self.email, self.key} - {""}


@dataclass(frozen=True)
class Project:
    id: str
    key: str
    name: str


@dataclass
class Comment:
    id: int
    body: str  # wiki-markup text; v3 renders it as ADF
    author: str  # User.name
    created: dt.datetime
    updated: dt.datetime
    visibility: dict[str, str] | None = None
    # The ADF document a v3 client wrote, returned as written: Cloud keeps documents, so text
    # that merely looks like wiki markup (`[~name]`) must not come back as a mention.
    document: dict[str, Any] | None = None


@dataclass
class HistoryEntry:
    created: dt.datetime
    author: str
    items: list[dict[str, Any]]


@dataclass
class IssueRecord:
    """One issue as the fake stores it: the truth a test asserts on."""

    id: int
    key: str
    project: str
    issuetype: str
    summary: str
    created: dt.datetime
    updated: dt.datetime
    reporter: str
    description: str | None = None
    labels: list[str] = field(default_factory=list)
    duedate: dt.date | None = None
    priority: str = "Medium"
    assignee: str | None = None  # User.name
    status: str = "To Do"
    status_category: str = "new"
    resolution: str | None = None
    resolutiondate: dt.datetime | None = None
    status_changed: dt.datetime | None = None
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryEntry] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])

    @property
    def is_done(self) -> bool:
        return self.status_category == "done"


PRIORITIES = (("1", "Highest"), ("2", "High"), ("3", "Medium"), ("4", "Low"), ("5", "Lowest"))
ISSUE_TYPES = (("10001", "Task", False), ("10002", "Bug", False), ("10003", "Sub-task", True))
RESOLUTIONS = (("10000", "Done"), ("10001", "Won't Do"), ("10002", "Duplicate"))
DEFAULT_STATUSES = (
    Status("10000", "To Do", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10001", "Done", "done"),
)
BOT = User("5b10ac8d82e05b22cc7d4ef5", "ticketbridge", "ticketbridge bot", "bot@example.com")
DEFAULT_USERS = (
    BOT,
    User("557058:alice-0001", "alice", "Alice Admin", "alice@example.com"),
    User("557058:bob-0002", "bob", "Bob Builder", "bob@example.com"),
)


class FakeState:
    """Catalogue plus issues. `issues` maps key -> IssueRecord, in creation order."""

    def __init__(
        self,
        *,
        projects: Iterable[Project],
        users: Iterable[User],
        transitions: Iterable[Transition],
        custom_fields: dict[str, str],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.projects = {p.key: p for p in projects}
        self.users = {u.name: u for u in users}
        self.myself = next(iter(self.users.values()))
        self.transitions = tuple(transitions)
        self.custom_fields = dict(custom_fields)
        self.statuses = {s.name: s for s in DEFAULT_STATUSES}
        self.priorities = {name: pid for pid, name in PRIORITIES}
        self.issue_types = {name: (tid, sub) for tid, name, sub in ISSUE_TYPES}
        self.resolutions = {name: rid for rid, name in RESOLUTIONS}
        self.clock = clock
        self.issues: dict[str, IssueRecord] = {}
        self._next_id = 10001
        self._next_comment_id = 10100
        self._next_number: dict[str, int] = {}

    def clear(self) -> None:
        self.issues.clear()
        self._next_id = 10001
        self._next_comment_id = 10100
        self._next_number.clear()

    # --- lookups ----------------------------------------------------------------------------

    def get(self, id_or_key: str) -> IssueRecord | None:
        """Find an issue by key (case-insensitive, as Jira does) or numeric id."""
        if id_or_key.isdigit():
            return next((i for i in self.issues.values() if i.id == int(id_or_key)), None)
        return self.issues.get(id_or_key.upper())

    def project(self, ref: str) -> Project | None:
        for project in self.projects.values():
            if ref.upper() == project.key or ref == project.id:
                return project
        return None

    def user(self, ident: str) -> User | None:
        return next((u for u in self.users.values() if ident in u.identifiers()), None)

    def transitions_from(self, status: str) -> list[Transition]:
        return [t for t in self.transitions if not t.sources or status in t.sources]

    # --- writes -----------------------------------------------------------------------------

    def new_issue(self, project: str, issuetype: str, summary: str, **fields: Any) -> IssueRecord:
        """Create and store an issue; `fields` are IssueRecord attributes (created, labels...)."""
        number = self._next_number.get(project, 1)
        self._next_number[project] = number + 1
        now = fields.pop("created", None) or self.clock()
        record = IssueRecord(
            id=self._next_id,
            key=f"{project}-{number}",
            project=project,
            issuetype=issuetype,
            summary=summary,
            created=now,
            updated=fields.pop("updated", None) or now,
            reporter=fields.pop("reporter", None) or self.myself.name,
            **fields,
        )
        record.status_category = self.statuses[record.status].category
        record.status_changed = record.status_changed or now
        record.labels = sorted(set(record.labels))
        self._next_id += 1
        self.issues[record.key] = record
        return record

    def add_comment(self, issue: IssueRecord, body: str, author: str) -> Comment:
        """Append a comment (wiki-markup text) and bump the issue's `updated`."""
        now = self.clock()
        comment = Comment(self._next_comment_id, body, author, now, now)
        self._next_comment_id += 1
        issue.comments.append(comment)
        issue.updated = now
        return comment

    def seed_issue(
        self,
        summary: str,
        *,
        project: str | None = None,
        issuetype: str = "Task",
        status: str = "To Do",
        created: dt.datetime | None = None,
        resolution: str | None = None,
        resolutiondate: dt.datetime | None = None,
        comments: Iterable[str] = (),
        **fields: Any,
    ) -> IssueRecord:
        """Pre-load a hand-filed issue, e.g. `seed_issue("Renew *.example.com", duedate=...)`.

        A done status gets resolution "Done" and a resolution date unless given.
        """
        project = project or next(iter(self.projects))
        category = self.statuses[status].category
        if category == "done":
            resolution = resolution or "Done"
            resolutiondate = resolutiondate or created or self.clock()
        record = self.new_issue(
            project,
            issuetype,
            summary,
            status=status,
            created=created,
            resolution=resolution,
            resolutiondate=resolutiondate,
            **fields,
        )
        for body in comments:
            comment = self.add_comment(record, body, record.reporter)
            comment.created = comment.updated = record.created
        record.updated = fields.get("updated") or record.created
        return record

    def snapshot(self, issue: IssueRecord) -> IssueRecord:
        return copy.deepcopy(issue)
