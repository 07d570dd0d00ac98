"""A stateful Jira-compatible HTTP server (Cloud or Data Center flavour) for the tests.

It answers the REST calls the `jira` package makes, with Jira's URL shapes, JSON shapes, error
shapes and status codes, so an adapter proven against it has been proven against the protocol
and not against a mock of our own assumptions. See `JiraFake` for the public surface.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from . import contract, jql
from .adf import adf_to_text, is_adf, text_to_adf
from .faults import Faults, InjectedFault
from .screens import ScreenField, assignable_users, cannot_assign, field_meta, screen_errors
from .state import (
    CATEGORIES,
    DEFAULT_USERS,
    Comment,
    FakeState,
    HistoryEntry,
    IssueRecord,
    Project,
    Status,
    Transition,
    User,
    default_transitions,
    jira_timestamp,
)

__all__ = ["JiraFake", "RequestRecord"]

MAX_SUMMARY = 255
MAX_TEXT = 32767
MAX_LABEL = 255
MAX_PROPERTY = 32768
MAX_RECONCILE = 50
NOT_AUTHENTICATED = "You are not authenticated. Authentication required to perform this operation."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
NOT_ADF = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
SEARCH_GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
UNBOUNDED = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
PERMISSIONS = {
    "BROWSE_PROJECTS": ("10", "Browse Projects"),
    "CREATE_ISSUES": ("11", "Create Issues"),
    "EDIT_ISSUES": ("12", "Edit Issues"),
    "ASSIGN_ISSUES": ("13", "Assign Issues"),
    "RESOLVE_ISSUES": ("14", "Resolve Issues"),
    "ADD_COMMENTS": ("15", "Add Comments"),
    "CLOSE_ISSUES": ("18", "Close Issues"),
    "SCHEDULE_ISSUES": ("28", "Schedule Issues"),
    "TRANSITION_ISSUES": ("46", "Transition Issues"),
    "ASSIGNABLE_USER": ("17", "Assignable User"),
}
# Fields an edit or create may set; status and resolution only move through transitions.
SYSTEM_FIELDS = (
    "summary", "description", "labels", "duedate", "priority", "assignee", "reporter",
    "issuetype", "project",
)  # fmt: skip
NAVIGABLE = (
    "summary", "description", "labels", "duedate", "priority", "assignee", "reporter", "status",
    "resolution", "resolutiondate", "created", "updated", "issuetype", "project",
    "statuscategorychangedate",
)  # fmt: skip


@dataclass(frozen=True)
class RequestRecord:
    """One request the fake saw; `status` is None when the connection was dropped."""

    method: str
    path: str
    query: str
    status: int | None
    fault: str | None = None
    body: Any = None  # the JSON body as sent (None without one), for the contract replay
    flavour: str = ""

    @property
    def version(self) -> str:
        """The REST version of the request ("2" or "3"; "latest" counts as 2)."""
        version = self.path.partition("/rest/api/")[2].partition("/")[0]
        return "2" if version == "latest" else version

    @property
    def api_path(self) -> str:
        """The path after /rest/api/{version}/, as the contract table names it."""
        return self.path.partition("/rest/api/")[2].partition("/")[2].rstrip("/")

    def contract_violations(self) -> list[str]:
        """What the cited contract table says is wrong with this request (nothing: [])."""
        if self.fault == "truncated":
            return []  # the sender was killed mid-body: no shape was sent
        if (self.method, self.path) in contract.SITE_CALLS and self.body is None:
            return []
        query = parse_qs(self.query, keep_blank_values=True)
        return contract.violations(
            self.flavour, self.method, self.api_path, self.version, query, self.body
        )

    @property
    def is_search(self) -> bool:
        return "/search" in self.path

    @property
    def is_write(self) -> bool:
        return self.method in ("POST", "PUT", "DELETE") and not self.is_search


@dataclass
class _Request:
    method: str
    path: str  # after /rest/api/{version}/
    version: str
    query: dict[str, list[str]]
    body: Any
    user: User | None

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def params(self, name: str) -> list[str]:
        """A multi-valued parameter, repeated and/or comma-separated."""
        return [v for raw in self.query.get(name, []) for v in raw.split(",") if v.strip()]


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def _error(
    status: int, messages: Iterable[str] = (), errors: Mapping[str, str] | None = None
) -> _Response:
    return _Response(status, {"errorMessages": list(messages), "errors": dict(errors or {})})


class _BadRequest(Exception):
    def __init__(self, response: _Response) -> None:
        super().__init__(response.body)
        self.response = response


def _field_error(name: str, message: str) -> _BadRequest:
    return _BadRequest(_error(400, errors={name: message}))


class JiraFake:
    """A Jira you can start in-process: `with JiraFake(flavour="cloud") as jira: ...`.

    Flavours: "cloud" (deploymentType Cloud, REST v2 and v3, basic auth with email + API token,
    /search answers 410, /search/jql with nextPageToken) and "datacenter" (deploymentType
    "Server" as a real Data Center node reports, REST v2 only, bearer PAT, /search with startAt).

    Introspection: `state.issues` (key -> IssueRecord), `requests_log`, `write_count()`,
    `faults` (see faults.py). `search_lag=N` makes Cloud's /search/jql eventually consistent:
    an issue created or edited is invisible (or stale) to the next N searches unless the search
    names its id in `reconcileIssues`. `search_lag_seconds=S` does the same by the fake's
    `clock` (inject one to simulate a 60 s lag without waiting), on both flavours: an issue
    written at t shows in search (as before the write) until t + S, unless reconciled on
    Cloud; a read by key is always current (contract.py, INDEX_LAG).
    """

    # Every fake started in this process, oldest first: the contract replay reads their logs.
    started: ClassVar[list[JiraFake]] = []

    def __init__(
        self,
        flavour: str = "cloud",
        *,
        tls: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
        url_host: str | None = None,
        context_path: str = "",
        email: str = "bot@example.com",
        token: str = "fake-api-token",
        seed: int = 0,
        search_lag: int = 0,
        search_lag_seconds: float = 0.0,
        transitions: Iterable[Transition] | None = None,
        projects: Iterable[Project] | None = None,
        users: Iterable[User] | None = None,
        custom_fields: Mapping[str, str] | None = None,
        properties_supported: bool = True,
        deployment_type: str | None = None,
        version: tuple[int, int, int] | None = None,
        denied_permissions: Iterable[str] = (),
        browse_users: bool = True,
        priority_scheme: Iterable[str] = (),
        omit_is_last: bool = False,
        clock: Callable[[], dt.datetime] | None = None,
        create_screen: Iterable[ScreenField] | Mapping[tuple[str, str], Iterable[ScreenField]] = (),
        transition_screens: Mapping[str, Iterable[ScreenField]] | None = None,
        assignable: Mapping[str, Iterable[str]] | None = None,
        cloud_id: str = "0f1e2d3c-4b5a-4978-8796-a5b4c3d2e1f0",
        scoped_token: bool = False,
        text_limit: int = MAX_TEXT,
        limit_counts_adf: bool = False,
    ) -> None:
        if flavour not in ("cloud", "datacenter"):
            raise ValueError(f"flavour must be 'cloud' or 'datacenter', not {flavour!r}")
        self.flavour = flavour
        self.is_cloud = flavour == "cloud"
        self.tls = tls
        self.host = host
        self.url_host = url_host or host
        self.context_path = context_path.rstrip("/")
        self.email = email
        self.token = token
        self.search_lag = search_lag
        self.search_lag_seconds = search_lag_seconds
        self.properties_supported = properties_supported
        self.deployment_type = deployment_type or ("Cloud" if self.is_cloud else "Server")
        self.version = version or ((1001, 0, 0) if self.is_cloud else (9, 12, 15))
        self.denied_permissions = set(denied_permissions)
        self.browse_users = browse_users
        self.priority_scheme = list(priority_scheme)
        self.omit_is_last = omit_is_last
        # The stricter Jira (screens.py): fields the create screen (of every project and issue
        # type, or per (project key, issue type name)) and each transition's screen (by name)
        # carry, and who may be assigned per project (None: every active user).
        self.create_screens: dict[tuple[str, str] | None, tuple[ScreenField, ...]] = (
            {k: tuple(v) for k, v in create_screen.items()}
            if isinstance(create_screen, Mapping)
            else {None: tuple(create_screen)}
        )
        self.transition_screens = {k: tuple(v) for k, v in (transition_screens or {}).items()}
        self.assignable = assignable
        # Cloud's gateway for scoped tokens (contract.BEHAVIOURS["SCOPED_TOKENS"]): the same
        # API under /ex/jira/<cloud_id>; a scoped token is refused on the site's own paths.
        self.cloud_id = cloud_id
        self.scoped_token = scoped_token
        # contract.BEHAVIOURS["TEXT_LIMIT"]: DC's limit is a setting; whether Cloud counts the
        # text or the ADF document is undocumented, so the stricter reading is on offer.
        self.text_limit = text_limit
        self.limit_counts_adf = limit_counts_adf
        self.clock: Callable[[], dt.datetime] = clock or (lambda: dt.datetime.now(dt.UTC))
        self.state = FakeState(
            projects=projects or [Project("10000", "OPS", "Operations")],
            users=users or DEFAULT_USERS,
            transitions=transitions or default_transitions(),
            custom_fields=dict(custom_fields or {}),
            clock=lambda: self.clock(),
        )
        self.faults = Faults(seed)
        self.requests_log: list[RequestRecord] = []
        self.lock = threading.RLock()
        # key -> [searches left before the index catches up, what the index still shows]
        self._stale: dict[str, list[Any]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> JiraFake:
        JiraFake.started.append(self)
        self._server = _Server((self.host, 0), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> JiraFake:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.url_host}:{self.port}{self.context_path}"

    def auth_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `jira.JIRA(...)` that authenticate as this fake expects."""
        if self.is_cloud:
            return {"basic_auth": (self.email, self.token)}
        return {"token_auth": self.token}

    # --- test helpers -----------------------------------------------------------------------

    def seed_issue(self, summary: str, **fields: Any) -> IssueRecord:
        """Pre-load a hand-filed issue (see FakeState.seed_issue); visible to search at once."""
        with self.lock:
            return self.state.seed_issue(summary, **fields)

    def reset(self) -> None:
        """Forget issues, requests and faults; keep configuration (flavour, users, workflow)."""
        with self.lock:
            self.state.clear()
            self.requests_log.clear()
            self.faults.clear()
            self._stale.clear()

    def write_count(self) -> int:
        """Requests that asked to change something (searches sent by POST do not count)."""
        return sum(1 for r in self.requests_log if r.is_write)

    def requests(self, method: str | None = None, path_contains: str = "") -> list[RequestRecord]:
        return [
            r
            for r in self.requests_log
            if (method is None or r.method == method) and path_contains in r.path
        ]

    # --- HTTP entry point (called by the handler thread) -------------------------------------

    def _serve(
        self, method: str, raw_path: str, headers: Mapping[str, str], raw_body: bytes
    ) -> tuple[_Response | None, InjectedFault | None]:
        split = urlsplit(raw_path)
        path = split.path
        with self.lock:
            fault = self.faults.decide(method, path)
            if fault is not None and fault.when == "before":
                self._log(method, split, fault, None, raw_body)
                return None, fault
            try:
                response = self._dispatch(method, path, split.query, headers, raw_body)
            except _BadRequest as exc:
                response = exc.response
            if fault is not None:
                self._log(method, split, fault, response.status, raw_body)
                return None, fault
            self.requests_log.append(
                RequestRecord(
                    method,
                    path,
                    split.query,
                    response.status,
                    body=_json_or_none(raw_body),
                    flavour=self.flavour,
                )
            )
            return response, None

    def truncated(self, method: str, raw_path: str) -> None:
        """Note a request whose body never fully arrived (not a shape ticketbridge sends)."""
        split = urlsplit(raw_path)
        with self.lock:
            self.requests_log.append(
                RequestRecord(
                    method, split.path, split.query, None, "truncated", flavour=self.flavour
                )
            )

    def _log(
        self,
        method: str,
        split: Any,
        fault: InjectedFault,
        applied: int | None,
        raw_body: bytes = b"",
    ) -> None:
        status = fault.effect if isinstance(fault.effect, int) else None
        label = f"{fault.effect}:{fault.when}" + (f"(applied {applied})" if applied else "")
        self.requests_log.append(
            RequestRecord(
                method,
                split.path,
                split.query,
                status,
                label,
                body=_json_or_none(raw_body),
                flavour=self.flavour,
            )
        )

    def _dispatch(
        self, method: str, path: str, query: str, headers: Mapping[str, str], raw_body: bytes
    ) -> _Response:
        if self.is_cloud and method == "GET" and path == f"{self.context_path}/_edge/tenant_info":
            return _Response(200, {"cloudId": self.cloud_id})
        gateway = f"/ex/jira/{self.cloud_id}/"
        via_gateway = self.is_cloud and path.startswith(gateway)
        if via_gateway:
            path = f"{self.context_path}/{path[len(gateway) :]}"
        prefix = f"{self.context_path}/rest/api/"
        if not path.startswith(prefix):
            return _error(404, [f"null for uri: {self.url}{path}"])
        version, _, rest = path[len(prefix) :].partition("/")
        if version == "latest":
            version = "2"
        if version not in (("2", "3") if self.is_cloud else ("2",)):
            return _error(404, [f"null for uri: {self.url}{path}"])
        user = self._authenticate(headers.get("authorization"))
        if self.scoped_token and not via_gateway:
            user = None  # a scoped token works through the gateway only
        if user is None and not (rest == "serverInfo" and not headers.get("authorization")):
            response = _error(401, [NOT_AUTHENTICATED])
            response.headers["WWW-Authenticate"] = (
                'Basic realm="protected-by-api-token"' if self.is_cloud else 'OAuth realm="jira"'
            )
            if not self.is_cloud:
                response.headers["X-Seraph-LoginReason"] = "AUTHENTICATED_FAILED"
            return response
        body: Any = None
        if method in ("POST", "PUT") and raw_body:
            if "json" not in headers.get("content-type", ""):
                return _error(415, ["Unsupported Media Type: send application/json"])
            try:
                body = json.loads(raw_body)
            except ValueError as exc:
                return _error(400, [f"Unexpected character in JSON body: {exc}"])
        request = _Request(method, rest.rstrip("/"), version, parse_qs(query, True), body, user)
        refusal = self._refuse_by_contract(request)
        return refusal if refusal is not None else self._route(request)

    def _refuse_by_contract(self, req: _Request) -> _Response | None:
        """Refuse what the real server refuses, by the cited table (contract.py).

        Endpoints without a row (used only by the tests' own `jira` client) are not judged here;
        the replay check fails any request ticketbridge makes without a row.
        """
        flavour = self.flavour
        row = contract.find_row(flavour, req.method, req.path, req.version)
        if row is None:
            return None
        if not self.is_cloud and row.bean and isinstance(req.body, dict) and row.body:
            unknown = [key for key in req.body if key not in row.body]
            if unknown:
                return _error(400, [contract.jackson_refusal(unknown[0], row.bean)])
        problems = contract.violations(
            flavour, req.method, req.path, req.version, req.query, req.body
        )
        # Data Center ignores query parameters it does not declare; Cloud's gateway too.
        problems = [p for p in problems if "query parameter" not in p]
        if problems:
            return _error(400, [problems[0].split(": ", 1)[1]])
        return None

    def _authenticate(self, header: str | None) -> User | None:
        if not header:
            return None
        scheme, _, credentials = header.partition(" ")
        if self.is_cloud and scheme == "Basic":
            expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            if credentials == expected:
                return self.state.myself
        if not self.is_cloud and scheme == "Bearer" and credentials == self.token:
            return self.state.myself
        return None

    # --- routing ----------------------------------------------------------------------------

    def _route(self, req: _Request) -> _Response:
        parts = req.path.split("/")
        simple: dict[tuple[str, str], Callable[[_Request], _Response]] = {
            ("GET", "serverInfo"): self._server_info,
            ("GET", "myself"): lambda r: _Response(200, self._user_json(self.state.myself)),
            ("GET", "field"): self._fields,
            ("GET", "priority"): self._priorities,
            ("GET", "issuetype"): lambda r: _Response(200, self._issue_types_json()),
            ("GET", "resolution"): self._resolutions,
            ("GET", "status"): lambda r: _Response(200, [self._status_json(s) for s in self.state.statuses.values()]),
            ("GET", "statuscategory"): self._status_categories,
            ("GET", "project"): lambda r: _Response(200, [self._project_json(p, r) for p in self.state.projects.values()]),
            ("GET", "mypermissions"): self._my_permissions,
            ("GET", "user/search"): self._user_search,
            ("GET", "user"): self._user_get,
            ("GET", "user/assignable/search"): self._assignable_search,
            ("POST", "issue"): self._create_issue,
            ("GET", "search"): self._search_v2,
            ("POST", "search"): self._search_v2,
            ("GET", "search/jql"): self._search_jql,
            ("POST", "search/jql"): self._search_jql,
            ("POST", "search/approximate-count"): self._approximate_count,
            ("GET", "issue/createmeta"): self._createmeta_legacy,
        }  # fmt: skip
        handler = simple.get((req.method, req.path))
        if handler is not None:
            return handler(req)
        if parts[0] == "project" and len(parts) == 2 and req.method == "GET":
            return self._project(req, parts[1])
        if (
            parts[:2] == ["issue", "createmeta"]
            and len(parts) in (4, 5)
            and parts[3] == "issuetypes"
        ):
            return self._createmeta(req, parts[2], parts[4] if len(parts) == 5 else None)
        if parts[0] == "issue" and len(parts) >= 2:
            return self._issue_route(req, parts[1], parts[2:])
        if req.path in {path for _, path in simple} or parts[0] in ("project", "issue"):
            return _error(405, ["Method Not Allowed"])
        return _error(404, [f"null for uri: {self.url}/rest/api/{req.version}/{req.path}"])

    def _issue_route(self, req: _Request, ref: str, sub: list[str]) -> _Response:
        issue = self.state.get(ref)
        if issue is None:
            return _error(404, [NO_ISSUE])
        routes: dict[tuple[str, str], Callable[[_Request, IssueRecord], _Response]] = {
            ("GET", ""): self._get_issue,
            ("PUT", ""): self._edit_issue,
            ("DELETE", ""): self._delete_issue,
            ("GET", "comment"): self._get_comments,
            ("POST", "comment"): self._add_comment,
            ("GET", "transitions"): self._get_transitions,
            ("POST", "transitions"): self._do_transition,
            ("PUT", "assignee"): self._assign,
            ("GET", "editmeta"): self._editmeta,
            ("GET", "properties"): self._property_keys,
        }
        handler = routes.get((req.method, "/".join(sub)))
        if handler is not None:
            if sub and sub[0] == "properties" and not self.properties_supported:
                return _error(404, [f"null for uri: {req.path}"])
            return handler(req, issue)
        if len(sub) == 2 and sub[0] == "properties":
            if not self.properties_supported:
                return _error(404, [f"null for uri: {req.path}"])
            return self._property(req, issue, sub[1])
        if len(sub) == 2 and sub[0] == "comment" and req.method == "GET":
            comment = next((c for c in issue.comments if str(c.id) == sub[1]), None)
            if comment is None:
                return _error(404, [f"Can not find a comment for the id: {sub[1]}."])
            return _Response(200, self._comment_json(issue, comment, req.version))
        return _error(404, [f"null for uri: {req.path}"])

    # --- catalogue --------------------------------------------------------------------------

    def _api(self, version: str = "2") -> str:
        return f"{self.url}/rest/api/{version}"

    def _server_info(self, req: _Request) -> _Response:
        now = jira_timestamp(self.clock())
        info: dict[str, Any] = {
            "baseUrl": self.url,
            "version": ".".join(map(str, self.version)) + ("-SNAPSHOT" if self.is_cloud else ""),
            "versionNumbers": list(self.version),
            "deploymentType": self.deployment_type,
            "buildNumber": 100300 if self.is_cloud else 9120015,
            "buildDate": "2026-01-15T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "0" * 40,
            "serverTitle": "Jira",
        }
        if self.is_cloud:
            info["defaultLocale"] = {"locale": "en_US"}
            info["serverTimeZone"] = "Etc/UTC"
        return _Response(200, info)

    def _user_json(self, user: User | None) -> dict[str, Any] | None:
        if user is None:
            return None
        if self.is_cloud:
            return {
                "self": f"{self._api()}/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "accountType": "atlassian",
                **({"emailAddress": user.email} if user.email_visible else {}),
                "displayName": user.display_name,
                "active": user.active,
                "timeZone": "Etc/UTC",
            }
        return {
            "self": f"{self._api()}/user?username={user.name}",
            "name": user.name,
            "key": user.key or f"JIRAUSER{10000 + list(self.state.users).index(user.name)}",
            "emailAddress": user.email,
            "displayName": user.display_name,
            "active": user.active,
            "timeZone": "UTC",
        }

    def _user_search(self, req: _Request) -> _Response:
        # Cloud findUsers: without *Browse users and groups* the answer is an empty list, and
        # privacy controls hide (and do not match) e-mail addresses a profile keeps private
        # (developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-user-search).
        if self.is_cloud and not self.browse_users:
            return _Response(200, [])
        needle = (req.param("query") if self.is_cloud else req.param("username")) or ""

        def visible(u: User) -> set[str]:
            hidden = {u.email} if self.is_cloud and not u.email_visible else set()
            return u.identifiers() - hidden

        # DC api/2/user/search: includeActive defaults to true, includeInactive to false.
        inactive = not self.is_cloud and req.param("includeInactive") != "true"
        found = [
            self._user_json(u)
            for u in self.state.users.values()
            if any(needle.lower() in i.lower() for i in visible(u))
            and not (inactive and not u.active)
        ]
        return _Response(200, found)

    def _assignable_search(self, req: _Request) -> _Response:
        # CLOUD3 findAssignableUsers (query or accountId, with project or issueKey); DC
        # api/2/user/assignable/search (username, with project or issueKey): the users who hold
        # *Assignable User* in that project, active ones only (contract.py).
        ref = req.param("project")
        if ref is None and req.param("issueKey"):
            issue = self.state.get(req.param("issueKey") or "")
            ref = issue.project if issue else None
        project = self.state.project(ref or "")
        if project is None:
            return _error(400 if ref is None else 404, ["Project or issue is required" if ref is None else f"No project could be found with key '{ref}'."])  # fmt: skip
        exact = req.param("accountId") if self.is_cloud else None
        needle = ((req.param("query") if self.is_cloud else req.param("username")) or "").lower()

        def wanted(u: User) -> bool:
            if exact:
                return u.account_id == exact
            hidden = {u.email} if self.is_cloud and not u.email_visible else set()
            return any(i.lower().startswith(needle) for i in u.identifiers() - hidden)

        users = assignable_users(self.state.users.values(), project.key, self.assignable)
        return _Response(200, [self._user_json(u) for u in users if wanted(u)])

    def _can_assign(self, project: str, assignee: str | None) -> dict[str, str]:
        """The field error of assigning `assignee` (a username) in `project`, if any."""
        if assignee is None:
            return {}
        allowed = assignable_users(self.state.users.values(), project, self.assignable)
        if any(u.name == assignee for u in allowed):
            return {}
        user = self.state.users[assignee]
        return cannot_assign(user.account_id if self.is_cloud else user.name)

    def _user_get(self, req: _Request) -> _Response:
        ident = req.param("accountId") if self.is_cloud else req.param("username")
        user = self.state.user(ident or "")
        if user is None:
            return _error(404, [f"User '{ident}' does not exist."])
        return _Response(200, self._user_json(user))

    def _fields(self, req: _Request) -> _Response:
        def system(
            fid: str, name: str, schema: str, clauses: list[str], nav: bool = True
        ) -> dict[str, Any]:
            return {
                "id": fid, "key": fid, "name": name, "custom": False, "orderable": fid in SYSTEM_FIELDS,
                "navigable": nav, "searchable": True, "clauseNames": clauses,
                "schema": {"type": schema, "system": fid},
            }  # fmt: skip

        fields = [
            system("summary", "Summary", "string", ["summary"]),
            system("description", "Description", "string", ["description"]),
            system("labels", "Labels", "array", ["labels"]),
            system("duedate", "Due date", "date", ["due", "duedate"]),
            system("priority", "Priority", "priority", ["priority"]),
            system("assignee", "Assignee", "user", ["assignee"]),
            system("reporter", "Reporter", "user", ["reporter"]),
            system("status", "Status", "status", ["status"]),
            system("resolution", "Resolution", "resolution", ["resolution"]),
            system("resolutiondate", "Resolved", "datetime", ["resolutiondate", "resolved"]),
            system("created", "Created", "datetime", ["created", "createdDate"]),
            system("updated", "Updated", "datetime", ["updated", "updatedDate"]),
            system("issuetype", "Issue Type", "issuetype", ["issuetype", "type"]),
            system("project", "Project", "project", ["project"]),
            system("comment", "Comment", "comments-page", ["comment"], nav=False),
            system("issuekey", "Key", "string", ["id", "issue", "issuekey", "key"]),
        ]
        for fid, name in self.state.custom_fields.items():
            number = fid.rsplit("_", 1)[-1]
            fields.append(
                {
                    "id": fid,
                    "key": fid,
                    "name": name,
                    "custom": True,
                    "orderable": True,
                    "navigable": True,
                    "searchable": True,
                    "clauseNames": [f"cf[{number}]", name],
                    "schema": {"type": "any", "custom": "com.example:any", "customId": int(number)},
                }
            )
        return _Response(200, fields)

    def _priority_json(self, name: str) -> dict[str, Any]:
        pid = self.state.priorities[name]
        return {"self": f"{self._api()}/priority/{pid}", "iconUrl": f"{self.url}/images/icons/priorities/{name.lower()}.svg", "name": name, "id": pid}  # fmt: skip

    def _priorities(self, req: _Request) -> _Response:
        return _Response(200, [self._priority_json(n) for n in self.state.priorities])

    def _issue_type_json(self, name: str) -> dict[str, Any]:
        tid, subtask = self.state.issue_types[name]
        return {"self": f"{self._api()}/issuetype/{tid}", "id": tid, "description": "", "iconUrl": "", "name": name, "subtask": subtask, "hierarchyLevel": -1 if subtask else 0}  # fmt: skip

    def _issue_types_json(self) -> list[dict[str, Any]]:
        return [self._issue_type_json(n) for n in self.state.issue_types]

    def _resolution_json(self, name: str | None) -> dict[str, Any] | None:
        if name is None:
            return None
        rid = self.state.resolutions[name]
        return {
            "self": f"{self._api()}/resolution/{rid}",
            "id": rid,
            "description": "",
            "name": name,
        }

    def _resolutions(self, req: _Request) -> _Response:
        return _Response(200, [self._resolution_json(n) for n in self.state.resolutions])

    def _category_json(self, key: str) -> dict[str, Any]:
        cat = CATEGORIES[key]
        return {"self": f"{self._api()}/statuscategory/{cat.id}", "id": cat.id, "key": cat.key, "colorName": cat.color, "name": cat.name}  # fmt: skip

    def _status_categories(self, req: _Request) -> _Response:
        undefined = {"self": f"{self._api()}/statuscategory/1", "id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"}  # fmt: skip
        return _Response(200, [undefined, *(self._category_json(k) for k in CATEGORIES)])

    def _status_json(self, status: Status) -> dict[str, Any]:
        return {
            "self": f"{self._api()}/status/{status.id}",
            "description": "",
            "iconUrl": f"{self.url}/images/icons/statuses/generic.png",
            "name": status.name,
            "id": status.id,
            "statusCategory": self._category_json(status.category),
        }

    def _project_json(self, project: Project, req: _Request) -> dict[str, Any]:
        out: dict[str, Any] = {
            "self": f"{self._api()}/project/{project.id}",
            "id": project.id,
            "key": project.key,
            "name": project.name,
            "projectTypeKey": "software",
        }
        # Both flavours list the project's issue types without being asked to expand them.
        out["issueTypes"] = self._issue_types_json()
        return out

    def _project(self, req: _Request, ref: str) -> _Response:
        project = self.state.project(ref)
        if project is None:
            return _error(404, [f"No project could be found with key '{ref}'."])
        return _Response(200, self._project_json(project, req))

    def _createmeta(self, req: _Request, ref: str, type_id: str | None) -> _Response:
        if self.state.project(ref) is None:
            return _error(404, [f"No project could be found with key '{ref}'."])
        if type_id is None:
            values = self._issue_types_json()
            key = "issueTypes" if self.is_cloud else "values"
        else:
            if type_id not in {tid for tid, _ in self.state.issue_types.values()}:
                return _error(404, [f"Issue type with id '{type_id}' does not exist."])
            name = next(n for n, (tid, _) in self.state.issue_types.items() if tid == type_id)
            project = self.state.project(ref)
            assert project is not None
            values = self._field_meta(self._create_fields(project.key, name))
            key = "fields" if self.is_cloud else "values"
        return _Response(200, {"maxResults": 50, "startAt": 0, "total": len(values), "isLast": True, key: values})  # fmt: skip

    def _create_fields(self, project: str, issuetype: str) -> tuple[ScreenField, ...]:
        screens = self.create_screens
        return screens.get((project, issuetype), screens.get(None, ()))

    def _field_meta(self, screen: tuple[ScreenField, ...] = ()) -> list[dict[str, Any]]:
        required = {"summary", "issuetype", "project"}
        metas = [
            {"fieldId": fid, "key": fid, "name": fid.capitalize(), "required": fid in required,
             "operations": ["set"] if fid != "labels" else ["add", "set", "remove"],
             "hasDefaultValue": fid == "priority"}
            for fid in SYSTEM_FIELDS
        ]  # fmt: skip
        for meta in metas:
            # The project's priority scheme, as createmeta/editmeta list it (allowedValues).
            if meta["fieldId"] == "priority":
                meta["allowedValues"] = [self._priority_json(n) for n in self._scheme()]
        return self._custom_meta(metas) + [field_meta(f) for f in screen]

    def _scheme(self) -> list[str]:
        names = list(self.state.priorities)
        return [n for n in names if n in self.priority_scheme] if self.priority_scheme else names

    def _editmeta(self, req: _Request, issue: IssueRecord) -> _Response:
        fields = {meta["fieldId"]: meta for meta in self._field_meta() if meta["fieldId"] not in ("project", "issuetype")}  # fmt: skip
        return _Response(200, {"fields": fields})

    def _custom_meta(self, metas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        metas += [
            {"fieldId": fid, "key": fid, "name": name, "required": False, "operations": ["set"]}
            for fid, name in self.state.custom_fields.items()
        ]
        return metas

    def _createmeta_legacy(self, req: _Request) -> _Response:
        if not self.is_cloud:
            # Data Center 9 removed the old createmeta; the jira package refuses it there too.
            return _error(404, ["null for uri: issue/createmeta"])
        wanted = set(req.params("projectKeys"))
        projects = [
            {**self._project_json(p, req), "issuetypes": self._issue_types_json()}
            for p in self.state.projects.values()
            if not wanted or p.key in wanted
        ]
        return _Response(200, {"expand": "projects", "projects": projects})

    def _my_permissions(self, req: _Request) -> _Response:
        # Cloud requires `permissions` and answers those keys; Data Center ignores the parameter
        # and answers every permission (contract.py, the two mypermissions rows).
        keys = req.params("permissions") if self.is_cloud else []
        if self.is_cloud and not keys:
            return _error(400, ["The permissions parameter is required."])
        unknown = [k for k in keys if k not in PERMISSIONS]
        if unknown:
            return _error(400, [f"Unrecognized permission keys: {', '.join(unknown)}"])
        project_ref = req.param("projectKey") or req.param("projectId")
        if project_ref and self.state.project(project_ref) is None:
            return _error(404, [f"No project could be found with key '{project_ref}'."])
        result = {
            key: {
                "id": pid,
                "key": key,
                "name": name,
                "type": "PROJECT",
                "description": "",
                "havePermission": key not in self.denied_permissions,
            }
            for key, (pid, name) in PERMISSIONS.items()
            if not keys or key in keys
        }
        return _Response(200, {"permissions": result})

    # --- issue rendering --------------------------------------------------------------------

    def _text_out(self, text: str | None, version: str) -> Any:
        return text_to_adf(text) if version == "3" else text

    def _comment_json(self, issue: IssueRecord, c: Comment, version: str) -> dict[str, Any]:
        author = self._user_json(self.state.users.get(c.author))
        out: dict[str, Any] = {
            "self": f"{self._api(version)}/issue/{issue.id}/comment/{c.id}",
            "id": str(c.id),
            "author": author,
            "body": c.document
            if version == "3" and c.document is not None
            else self._text_out(c.body, version),
            "updateAuthor": author,
            "created": jira_timestamp(c.created),
            "updated": jira_timestamp(c.updated),
        }
        if self.is_cloud:
            out["jsdPublic"] = True
        if c.visibility:
            out["visibility"] = c.visibility
        return out

    def _all_fields(self, issue: IssueRecord, version: str) -> dict[str, Any]:
        status = self.state.statuses[issue.status]
        comments = [self._comment_json(issue, c, version) for c in issue.comments]
        fields: dict[str, Any] = {
            "summary": issue.summary,
            "description": self._text_out(issue.description, version),
            "labels": list(issue.labels),
            "duedate": issue.duedate.isoformat() if issue.duedate else None,
            "priority": self._priority_json(issue.priority),
            "assignee": self._user_json(self.state.users.get(issue.assignee or "")),
            "reporter": self._user_json(self.state.users.get(issue.reporter)),
            "status": self._status_json(status),
            "resolution": self._resolution_json(issue.resolution),
            "resolutiondate": jira_timestamp(issue.resolutiondate) if issue.resolutiondate else None,
            "created": jira_timestamp(issue.created),
            "updated": jira_timestamp(issue.updated),
            "issuetype": self._issue_type_json(issue.issuetype),
            "project": {k: v for k, v in self._project_json(self.state.projects[issue.project], _NO_REQ).items() if k != "issueTypes"},
            "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0},
        }  # fmt: skip
        if self.is_cloud:
            changed = issue.status_changed or issue.created
            fields["statuscategorychangedate"] = jira_timestamp(changed)
        for fid in self.state.custom_fields:
            fields[fid] = issue.custom.get(fid)
        return fields

    def _issue_json(
        self,
        issue: IssueRecord,
        version: str,
        wanted: list[str] | None,
        default: str,
        expand: str = "",
        *,
        properties: list[str] | None = None,
        bare_id: bool = False,
    ) -> dict[str, Any]:
        selected = _select_fields(wanted, default, self._all_fields(issue, version))
        if bare_id and set(selected) <= {"id", "key"}:
            # Cloud /search/jql answers only what was asked for: by default just the id.
            return {
                k: v
                for k, v in (("id", str(issue.id)), ("key", issue.key))
                if k in selected or k == "id"
            }
        out: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self._api(version)}/issue/{issue.id}",
            "key": issue.key,
            "fields": {k: v for k, v in selected.items() if k not in ("id", "key")},
        }  # fmt: skip
        if properties:
            out["properties"] = {
                k: v for k, v in issue.properties.items() if "*all" in properties or k in properties
            }
        if "changelog" in expand:
            histories = [self._history_json(i, h) for i, h in enumerate(issue.history)]
            out["changelog"] = {"startAt": 0, "maxResults": len(histories), "total": len(histories), "histories": histories}  # fmt: skip
        return out

    def _history_json(self, index: int, entry: HistoryEntry) -> dict[str, Any]:
        return {
            "id": str(10000 + index),
            "author": self._user_json(self.state.users.get(entry.author)),
            "created": jira_timestamp(entry.created),
            "items": entry.items,
        }

    def _get_issue(self, req: _Request, issue: IssueRecord) -> _Response:
        wanted = req.params("fields") or None
        return _Response(
            200,
            self._issue_json(
                issue,
                req.version,
                wanted,
                "*all",
                req.param("expand") or "",
                properties=req.params("properties"),
            ),
        )

    # --- issue writes -----------------------------------------------------------------------

    def _create_issue(self, req: _Request) -> _Response:
        body = req.body if isinstance(req.body, dict) else {}
        fields = body.get("fields")
        if not isinstance(fields, dict):
            return _error(400, ["Issue must contain fields"])
        errors: dict[str, str] = {}
        project = self._project_ref(fields.get("project"))
        if project is None:
            errors["project"] = "Specify a valid project ID or key"
        elif "CREATE_ISSUES" in self.denied_permissions:
            errors["project"] = "You do not have permission to create issues in this project."
        issuetype = self._named(fields.get("issuetype"), self.state.issue_types, by_id=lambda n: self.state.issue_types[n][0])  # fmt: skip
        if issuetype is None:
            errors["issuetype"] = "Specify a valid issue type"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        values: dict[str, Any] = {}
        on_screen = self._create_fields(project.key, issuetype) if project and issuetype else ()
        screen, screen_problems = screen_errors(on_screen, fields)
        errors.update(screen_problems)
        for name, value in fields.items():
            if name in ("project", "issuetype", *(f.field_id for f in on_screen)):
                continue
            try:
                values.update(self._field_value(name, value, req.version))
            except _BadRequest as exc:
                errors.update(exc.response.body["errors"])
        if project is not None and "assignee" not in errors:
            errors.update(self._can_assign(project.key, values.get("assignee")))
        if errors:
            return _error(400, errors=errors)
        assert project is not None and issuetype is not None
        if screen:
            values["custom"] = {**values.get("custom", {}), **screen}
        summary = values.pop("summary")
        issue = self.state.new_issue(project.key, issuetype, summary, **values)
        self._mark_stale(issue.key, None)
        return _Response(201, {"id": str(issue.id), "key": issue.key, "self": f"{self._api(req.version)}/issue/{issue.id}"})  # fmt: skip

    def _project_ref(self, value: Any) -> Project | None:
        if isinstance(value, dict):
            ref = value.get("key") or value.get("id")
            return self.state.project(str(ref)) if ref else None
        return None

    @staticmethod
    def _named(value: Any, catalogue: Mapping[str, Any], by_id: Callable[[str], str]) -> str | None:
        if not isinstance(value, dict):
            return None
        if "name" in value and value["name"] in catalogue:
            return str(value["name"])
        if "id" in value:
            return next((n for n in catalogue if by_id(n) == str(value["id"])), None)
        return None

    def _field_value(self, name: str, value: Any, version: str) -> dict[str, Any]:
        """Validate one field value as Jira does; return IssueRecord attributes to set."""
        if name == "summary":
            return {"summary": _summary(value)}
        if name == "description":
            return {"description": self._text_in("description", value, version)}
        if name == "labels":
            return {"labels": _check_labels(value)}
        if name == "duedate":
            return {"duedate": _due_date(value)}
        if name == "priority":
            priority = self._named(
                value, self.state.priorities, by_id=self.state.priorities.__getitem__
            )
            if priority is None:
                raise _field_error("priority", "Specify a valid 'id' or 'name' for Priority")
            if priority not in self._scheme():
                # A site priority outside the project's priority scheme (contract.py).
                raise _field_error("priority", "The priority selected is invalid.")
            return {"priority": priority}
        if name in ("assignee", "reporter"):
            return {name: self._user_ref(name, value)}
        if name in self.state.custom_fields:
            return {"custom": {name: value}}
        raise _field_error(name, f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")  # fmt: skip

    def _text_in(self, name: str, value: Any, version: str) -> str | None:
        if value is None:
            return None
        if version == "3":
            if not is_adf(value):
                raise _field_error(name, NOT_ADF)
            text = adf_to_text(value)
        else:
            if not isinstance(value, str):
                raise _field_error(name, "Operation value must be a string")
            text = value
        measured = len(json.dumps(value, ensure_ascii=False)) if version == "3" and self.limit_counts_adf else len(text)  # fmt: skip
        if measured > self.text_limit:
            raise _field_error(name, f"The entered text is too long. It exceeds the allowed limit of {self.text_limit:,} characters.")  # fmt: skip
        return text

    def _user_ref(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _field_error(name, "expected Object")
        if self.is_cloud:
            ident = value.get("accountId") or value.get("id")
            if ident is None:
                # Cloud removed usernames from the API (GDPR); only accountId identifies a user.
                raise _field_error(name, "Specify the user by accountId; 'name' is not supported.")
            user = next((u for u in self.state.users.values() if u.account_id == ident), None)
            if user is None:
                raise _field_error(name, "Specified user does not exist or you do not have required permissions")  # fmt: skip
            return user.name
        ident = value.get("name") or value.get("key")
        user = self.state.users.get(str(ident)) if ident else None
        if user is None:
            raise _field_error(name, f"User '{ident}' does not exist.")
        return user.name

    def _apply(self, issue: IssueRecord, values: Mapping[str, Any], author: str) -> None:
        """Set attributes, recording a changelog entry for what actually changed."""
        items = []
        for attr, new in values.items():
            if attr == "custom":
                for fid, v in new.items():
                    if issue.custom.get(fid) != v:
                        items.append(_change(fid, issue.custom.get(fid), v))
                        issue.custom[fid] = v
                continue
            old = getattr(issue, attr)
            if attr == "labels":
                new = sorted(set(new))
            if old != new:
                items.append(_change(attr, old, new))
                setattr(issue, attr, new)
        if items:
            issue.updated = self.clock()
            issue.history.append(HistoryEntry(issue.updated, author, items))

    def _edit_issue(self, req: _Request, issue: IssueRecord) -> _Response:
        if "EDIT_ISSUES" in self.denied_permissions:
            return _error(403, ["You do not have permission to edit issues in this project."])
        if req.param("notifyUsers") == "false" and "ADMINISTER_PROJECTS" in self.denied_permissions:
            return _error(403, ["To discard the user notification either admin or project admin permissions are required."])  # fmt: skip
        body = req.body if isinstance(req.body, dict) else {}
        fields = body.get("fields") or {}
        update = body.get("update") or {}
        if not isinstance(fields, dict) or not isinstance(update, dict):
            return _error(400, ["Can not deserialize the edit request"])
        both = set(fields) & set(update)
        if both:
            name = sorted(both)[0]
            return _error(400, errors={name: f"Field '{name}' cannot be set in both fields and update"})  # fmt: skip
        values, errors, comments = self._edit_values(req, issue, fields, update)
        if "assignee" in values and "assignee" not in errors:
            errors.update(self._can_assign(issue.project, values["assignee"]))
        if errors:
            return _error(400, errors=errors)
        before = self.state.snapshot(issue)
        self._apply(issue, values, self._author(req))
        for text, document in comments:
            self.state.add_comment(issue, text, self._author(req)).document = document
        self._mark_stale(issue.key, before)
        return _Response(204)

    def _edit_values(
        self, req: _Request, issue: IssueRecord, fields: dict[str, Any], update: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], list[tuple[str, Any]]]:
        """The attributes an edit sets, the field errors it earns, and the comments it adds."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        comments: list[tuple[str, Any]] = []
        for name, value in fields.items():
            if name in (
                "project",
                "issuetype",
                "status",
                "resolution",
                "resolutiondate",
                "created",
            ):
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."  # fmt: skip
                continue
            try:
                values.update(self._field_value(name, value, req.version))
            except _BadRequest as exc:
                errors.update(exc.response.body["errors"])
        for name, operations in update.items():
            try:
                if name == "comment":
                    comments += [self._comment_entry(op, req.version) for op in operations]
                elif name == "labels":
                    values["labels"] = _label_ops(issue.labels, operations)
                else:
                    values.update(self._set_ops(name, operations, req.version))
            except _BadRequest as exc:
                errors.update(exc.response.body["errors"])
        return values, errors, comments

    def _set_ops(self, name: str, operations: Any, version: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for op in operations:
            if set(op) != {"set"}:
                raise _field_error(name, f"Operation {next(iter(op), '?')} is not supported for field {name}")  # fmt: skip
            values.update(self._field_value(name, op["set"], version))
        return values

    def _comment_entry(self, op: Any, version: str) -> tuple[str, Any]:
        text = self._comment_op(op, version)
        return text, (op["add"].get("body") if version == "3" else None)

    def _comment_op(self, op: Any, version: str) -> str:
        if not isinstance(op, dict) or set(op) != {"add"} or not isinstance(op["add"], dict):
            raise _field_error("comment", "Only 'add' is supported for comments in an edit")
        return self._comment_text(op["add"].get("body"), version)

    def _comment_text(self, body: Any, version: str) -> str:
        if version == "3" and not is_adf(body):
            raise _BadRequest(_error(400, ["Comment body is not valid!"]))
        text = self._text_in("comment", body, version)
        if not text or not text.strip():
            raise _field_error("comment", "Comment body can not be empty!")
        return text

    def _author(self, req: _Request) -> str:
        return req.user.name if req.user else self.state.myself.name

    def _delete_issue(self, req: _Request, issue: IssueRecord) -> _Response:
        del self.state.issues[issue.key]
        self._stale.pop(issue.key, None)
        return _Response(204)

    def _assign(self, req: _Request, issue: IssueRecord) -> _Response:
        body = req.body if isinstance(req.body, dict) else {}
        before = self.state.snapshot(issue)
        self._apply(issue, {"assignee": self._user_ref("assignee", body)}, self._author(req))
        self._mark_stale(issue.key, before)
        return _Response(204)

    # --- comments ---------------------------------------------------------------------------

    def _get_comments(self, req: _Request, issue: IssueRecord) -> _Response:
        comments = list(issue.comments)
        if req.param("orderBy") == "-created":
            comments.reverse()
        start = int(req.param("startAt") or 0)
        limit = min(int(req.param("maxResults") or 5000), 5000)
        page = comments[start : start + limit]
        return _Response(
            200,
            {
                "startAt": start,
                "maxResults": limit,
                "total": len(comments),
                "comments": [self._comment_json(issue, c, req.version) for c in page],
            },
        )

    def _add_comment(self, req: _Request, issue: IssueRecord) -> _Response:
        if "ADD_COMMENTS" in self.denied_permissions:
            return _error(403, ["You do not have the permission to comment on this issue."])
        body = req.body if isinstance(req.body, dict) else {}
        text = self._comment_text(body.get("body"), req.version)
        before = self.state.snapshot(issue)
        comment = self.state.add_comment(issue, text, self._author(req))
        comment.document = body.get("body") if req.version == "3" else None
        comment.visibility = body.get("visibility")
        self._mark_stale(issue.key, before)
        return _Response(201, self._comment_json(issue, comment, req.version))

    # --- transitions ------------------------------------------------------------------------

    def _transition_json(self, t: Transition, expand: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": t.id,
            "name": t.name,
            "to": self._status_json(self.state.statuses[t.to]),
            "hasScreen": bool(t.screen) or bool(self.transition_screens.get(t.name)),
            "isGlobal": not t.sources,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "isLooped": False,
        }
        if "transitions.fields" in expand:
            out["fields"] = {
                name: {"required": False, "name": name.capitalize(), "operations": ["set"]}
                for name in sorted(t.screen)
            }
            for extra in self.transition_screens.get(t.name, ()):
                out["fields"][extra.field_id] = field_meta(extra)
            if "resolution" in t.screen:
                # As GET transitions?expand=transitions.fields shows a resolution screen: required,
                # with the resolutions it offers (CLOUD3 getTransitions, DC api/2/issue/{key}/transitions).
                out["fields"]["resolution"] |= {
                    "required": True,
                    "schema": {"type": "resolution", "system": "resolution"},
                    "allowedValues": [self._resolution_json(n) for n in self._offered(t)],
                }
        return out

    def _offered(self, t: Transition) -> list[str]:
        return [n for n in self.state.resolutions if not t.resolutions or n in t.resolutions]

    def _get_transitions(self, req: _Request, issue: IssueRecord) -> _Response:
        available = [] if "TRANSITION_ISSUES" in self.denied_permissions else self.state.transitions_from(issue.status)  # fmt: skip
        wanted = req.param("transitionId")
        expand = req.param("expand") or ""
        return _Response(
            200,
            {
                "expand": "transitions",
                "transitions": [
                    self._transition_json(t, expand) for t in available if wanted in (None, t.id)
                ],
            },
        )

    def _screen_values(
        self, transition: Transition, fields: dict[str, Any]
    ) -> tuple[str | None, dict[str, str]]:
        """The resolution a transition's screen sets, and the field errors it earns."""
        extras = self.transition_screens.get(transition.name, ())
        _, errors = screen_errors(extras, fields)
        resolution: str | None = None
        for name, value in fields.items():
            if any(name == extra.field_id for extra in extras):
                continue
            if name not in transition.screen:
                errors[name] = f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."  # fmt: skip
            elif name == "resolution":
                resolution = self._named(value, self.state.resolutions, by_id=self.state.resolutions.__getitem__)  # fmt: skip
                if resolution is None:
                    errors["resolution"] = "Could not find valid 'id' or 'name' in resolution object."  # fmt: skip
                elif resolution not in self._offered(transition):
                    errors["resolution"] = f"The resolution '{resolution}' is not offered on this screen."  # fmt: skip
        return resolution, errors

    def _do_transition(self, req: _Request, issue: IssueRecord) -> _Response:
        body = req.body if isinstance(req.body, dict) else {}
        ref = body.get("transition") or {}
        tid = str(ref.get("id", "")) if isinstance(ref, dict) else ""
        transition = next(
            (t for t in self.state.transitions_from(issue.status) if t.id == tid), None
        )
        if transition is None or "TRANSITION_ISSUES" in self.denied_permissions:
            return _error(400, [f"Transition id '{tid}' is not valid for this issue."])
        resolution, errors = self._screen_values(transition, body.get("fields") or {})
        comments = [self._comment_entry(op, req.version) for op in (body.get("update") or {}).get("comment", [])]  # fmt: skip
        if errors:
            return _error(400, errors=errors)
        before = self.state.snapshot(issue)
        now = self.clock()
        target = self.state.statuses[transition.to]
        values: dict[str, Any] = {"status": target.name, "status_category": target.category}
        if target.category == "done":
            chosen = resolution or transition.auto_resolution
            if chosen and issue.resolution is None:
                values |= {"resolution": chosen, "resolutiondate": now}
        elif transition.clears_resolution:
            values |= {"resolution": None, "resolutiondate": None}
        if issue.status_category != target.category:
            issue.status_changed = now
        self._apply(issue, values, self._author(req))
        for text, document in comments:
            self.state.add_comment(issue, text, self._author(req)).document = document
        self._mark_stale(issue.key, before)
        return _Response(204)

    # --- issue properties -------------------------------------------------------------------

    def _property_keys(self, req: _Request, issue: IssueRecord) -> _Response:
        keys = [
            {"self": f"{self._api(req.version)}/issue/{issue.id}/properties/{k}", "key": k}
            for k in issue.properties
        ]
        return _Response(200, {"keys": keys})

    def _property(self, req: _Request, issue: IssueRecord, key: str) -> _Response:
        if req.method == "GET":
            if key not in issue.properties:
                return _error(404, [f"The property with key '{key}' does not exist."])
            return _Response(200, {"key": key, "value": issue.properties[key]})
        if req.method == "DELETE":
            if issue.properties.pop(key, None) is None:
                return _error(404, [f"The property with key '{key}' does not exist."])
            return _Response(204)
        if req.method == "PUT":
            if len(key) > 255:
                return _error(400, ["The property key cannot be longer than 255 characters."])
            if req.body is None or len(json.dumps(req.body)) > MAX_PROPERTY:
                return _error(400, [f"The property value must be valid JSON of at most {MAX_PROPERTY} bytes."])  # fmt: skip
            existed = key in issue.properties
            issue.properties[key] = req.body
            return _Response(200 if existed else 201)
        return _error(405, ["Method Not Allowed"])

    # --- search -----------------------------------------------------------------------------

    def _search_input(self, req: _Request, allowed: set[str]) -> dict[str, Any]:
        """Search parameters from the query string (GET) or JSON body (POST), as one dict."""
        if req.method == "GET":
            return {
                "jql": req.param("jql", "") or "",
                "fields": req.params("fields") or None,
                "expand": req.param("expand") or "",
                "properties": req.params("properties"),
                "maxResults": req.param("maxResults"),
                "startAt": req.param("startAt"),
                "nextPageToken": req.param("nextPageToken"),
                "validateQuery": req.param("validateQuery"),
                "reconcileIssues": req.params("reconcileIssues"),
            }
        body = req.body if isinstance(req.body, dict) else {}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise _BadRequest(_error(400, [f'Unrecognized field "{unknown[0]}"']))
        expand = body.get("expand") or ""
        fields = body.get("fields")
        return {
            "jql": body.get("jql") or "",
            "fields": [f for f in fields if f] if isinstance(fields, list) else None,
            "expand": ",".join(expand) if isinstance(expand, list) else str(expand),
            "properties": body.get("properties") or [],
            "maxResults": body.get("maxResults"),
            "startAt": body.get("startAt"),
            "nextPageToken": body.get("nextPageToken"),
            "validateQuery": body.get("validateQuery"),
            "reconcileIssues": body.get("reconcileIssues") or [],
        }

    def _query(
        self, text: str, validate: str = "strict"
    ) -> tuple[jql.Query, jql.EvalContext, list[str]]:
        try:
            query = jql.parse(text)
        except jql.JqlError as exc:
            raise _BadRequest(_error(400, [str(exc)])) from None
        problems = jql.validate(query, self._vocabulary())
        warnings: list[str] = []
        invalid: set[int] = set()
        if problems and validate in ("strict", "true", "True"):
            raise _BadRequest(_error(400, [m for _, m in problems]))
        if validate in ("warn", "false", "False"):
            warnings = [m for _, m in problems]
            invalid = {id(c) for c, _ in problems}
        me = self.state.myself
        ctx = jql.EvalContext(self.clock(), frozenset(me.identifiers()), frozenset(invalid))
        return query, ctx, warnings

    def _vocabulary(self) -> dict[str, set[str]]:
        users = {i for u in self.state.users.values() for i in u.identifiers()}
        return {
            "project": {v for p in self.state.projects.values() for v in (p.key, p.id, p.name)},
            "status": {v for s in self.state.statuses.values() for v in (s.name, s.id)},
            "statuscategory": {v for c in CATEGORIES.values() for v in (c.name, c.key, str(c.id))},
            "priority": {v for n, i in self.state.priorities.items() for v in (n, i)},
            "issuetype": {v for n, (i, _) in self.state.issue_types.items() for v in (n, i)},
            "resolution": {*self.state.resolutions, *self.state.resolutions.values(), "Unresolved"},
            "assignee": users,
            "reporter": users,
            "key": set(self.state.issues),
        }

    def _facts(self, issue: IssueRecord) -> dict[str, Any]:
        status = self.state.statuses[issue.status]
        cat = CATEGORIES[status.category]
        project = self.state.projects[issue.project]
        priority_rank = list(self.state.priorities).index(issue.priority)

        def who(name: str | None) -> set[str] | None:
            user = self.state.users.get(name or "")
            return user.identifiers() if user else None

        comments = "\n".join(c.body for c in issue.comments)
        return {
            "issue": issue,
            "project": {project.key, project.id, project.name},
            "key": issue.key,
            "id": issue.id,
            "labels": issue.labels,
            "status": {status.name, status.id},
            "statuscategory": {cat.name, cat.key, str(cat.id)},
            "priority": {issue.priority, self.state.priorities[issue.priority]},
            "issuetype": {issue.issuetype, self.state.issue_types[issue.issuetype][0]},
            "resolution": {issue.resolution, self.state.resolutions[issue.resolution]}
            if issue.resolution
            else None,
            "assignee": who(issue.assignee),
            "reporter": who(issue.reporter),
            "summary": issue.summary,
            "description": issue.description or "",
            "comment": comments,
            "text": "\n".join([issue.summary, issue.description or "", comments]),
            "created": issue.created,
            "updated": issue.updated,
            "resolutiondate": issue.resolutiondate,
            "duedate": issue.duedate,
            "sort:created": issue.created,
            "sort:updated": issue.updated,
            "sort:key": (issue.project, issue.number),
            "sort:id": issue.id,
            "sort:duedate": issue.duedate,
            "sort:resolutiondate": issue.resolutiondate,
            "sort:priority": -priority_rank,
            "sort:summary": issue.summary.lower(),
            "sort:status": issue.status,
        }

    def _matching(
        self, issues: Iterable[IssueRecord], query: jql.Query, ctx: jql.EvalContext
    ) -> list[IssueRecord]:
        facts = [f for f in map(self._facts, issues) if jql.evaluate(query.where, f, ctx)]
        # Without ORDER BY, Jira's API returns newest keys first; id breaks ties so pages are stable.
        order = query.order_by or (jql.SortKey("key", descending=True),)
        ordered = jql.sort_issues(facts, [*order, jql.SortKey("id", descending=True)])
        return [f["issue"] for f in ordered]

    def _search_v2(self, req: _Request) -> _Response:
        if self.is_cloud:
            return _error(410, [SEARCH_GONE])
        # SearchRequestBean (contract.py): DC search returns no issue properties, GET or POST.
        allowed = {"jql", "startAt", "maxResults", "fields", "expand", "validateQuery"}
        params = self._search_input(req, allowed)
        validate = str(params["validateQuery"] if params["validateQuery"] is not None else "strict")
        query, ctx, warnings = self._query(params["jql"], validate)
        start = _int(params["startAt"], 0, "startAt")
        limit = min(_int(params["maxResults"], 50, "maxResults"), 1000)
        found = self._matching(self._indexed_view(set()), query, ctx)
        page = found[start : start + limit]
        body: dict[str, Any] = {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(found),
            "issues": [
                self._issue_json(
                    i,
                    req.version,
                    params["fields"],
                    "*navigable",
                    params["expand"],
                    properties=[],
                )
                for i in page
            ],
        }
        if warnings:
            body["warningMessages"] = warnings
        return _Response(200, body)

    def _search_jql(self, req: _Request) -> _Response:
        if not self.is_cloud:
            return _error(404, [f"null for uri: {self.url}/rest/api/2/search/jql"])
        allowed = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "failFast", "reconcileIssues"}  # fmt: skip
        params = self._search_input(req, allowed)
        query, ctx, _ = self._query(params["jql"])
        if query.where is None:
            return _error(400, [UNBOUNDED])
        try:
            reconcile = {int(i) for i in params["reconcileIssues"]}
        except (TypeError, ValueError):
            return _error(400, ["reconcileIssues must be a list of issue ids"])
        if len(reconcile) > MAX_RECONCILE:
            return _error(400, [f"The number of issues to reconcile must not exceed {MAX_RECONCILE}."])  # fmt: skip
        fields = params["fields"]
        only_ids = fields is None or set(fields) <= {"id", "key", "issuekey"}
        limit = _int(params["maxResults"], 50, "maxResults") or 50
        limit = min(limit, 5000 if only_ids else 100)
        digest = hashlib.sha256(params["jql"].encode()).hexdigest()[:12]
        start = _decode_token(params["nextPageToken"], digest)
        found = self._matching(self._indexed_view(reconcile), query, ctx)
        page = found[start : start + limit]
        self._age_index()
        body: dict[str, Any] = {
            "issues": [
                self._issue_json(
                    i,
                    req.version,
                    fields,
                    "id",
                    params["expand"],
                    properties=params["properties"],
                    bare_id=True,
                )
                for i in page
            ],
            "isLast": start + limit >= len(found),
        }
        if not body["isLast"]:
            body["nextPageToken"] = _encode_token(start + limit, digest)
        if self.omit_is_last:
            del body["isLast"]  # some Cloud answers carry only nextPageToken (issue 8)
        return _Response(200, body)

    def _approximate_count(self, req: _Request) -> _Response:
        if not self.is_cloud:
            return _error(404, ["null for uri: search/approximate-count"])
        body = req.body if isinstance(req.body, dict) else {}
        query, ctx, _ = self._query(str(body.get("jql") or ""))
        if query.where is None:
            return _error(400, [UNBOUNDED])
        return _Response(200, {"count": len(self._matching(self._indexed_view(set()), query, ctx))})

    # --- Cloud's eventually consistent search index -----------------------------------------

    def _mark_stale(self, key: str, before: IssueRecord | None) -> None:
        if self.search_lag_seconds > 0:
            until = self.clock() + dt.timedelta(seconds=self.search_lag_seconds)
            entry = self._stale.get(key)
            if entry is None:
                self._stale[key] = [until, before]
            else:
                entry[0] = until  # still showing the oldest version the index had
            return
        if not self.is_cloud or self.search_lag <= 0:
            return
        entry = self._stale.get(key)
        if entry is None:
            self._stale[key] = [self.search_lag, before]
        else:
            entry[0] = self.search_lag  # still showing the oldest version the index had

    def _indexed_view(self, reconcile: set[int]) -> list[IssueRecord]:
        now = self.clock()
        for key in [k for k, e in self._stale.items() if isinstance(e[0], dt.datetime)]:
            if now >= self._stale[key][0]:
                del self._stale[key]
        view = []
        for issue in self.state.issues.values():
            entry = self._stale.get(issue.key)
            if entry is None or issue.id in reconcile:
                view.append(issue)
            elif entry[1] is not None:
                view.append(entry[1])
        return view

    def _age_index(self) -> None:
        for key in list(self._stale):
            if isinstance(self._stale[key][0], dt.datetime):
                continue  # ages by the clock (search_lag_seconds)
            self._stale[key][0] -= 1
            if self._stale[key][0] <= 0:
                del self._stale[key]


_NO_REQ = _Request("GET", "", "2", {}, None, None)


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode("utf-8", "replace")


def _change(field_name: str, old: Any, new: Any) -> dict[str, Any]:
    def show(v: Any) -> str | None:
        if v is None:
            return None
        if isinstance(v, list):
            return " ".join(map(str, v))
        if isinstance(v, dt.datetime):
            return jira_timestamp(v)
        if isinstance(v, dt.date):
            return v.isoformat()
        return str(v)

    return {
        "field": field_name,
        "fieldtype": "jira",
        "fromString": show(old),
        "toString": show(new),
    }


def _summary(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _field_error("summary", "You must specify a summary of the issue.")
    if "\n" in value or "\r" in value:
        raise _field_error("summary", "The summary is invalid because it contains newline characters.")  # fmt: skip
    if len(value) > MAX_SUMMARY:
        raise _field_error("summary", "Summary must be less than 255 characters.")
    return value


def _due_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _field_error("duedate", f"Error parsing date string: {value}") from None


def _check_labels(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _field_error("labels", "data was not an array")
    for label in value:
        _check_label(label)
    return sorted(set(value))


def _check_label(label: str) -> None:
    if not label:
        raise _field_error("labels", "The label cannot be empty.")
    if any(c.isspace() for c in label):
        raise _field_error("labels", f"The label '{label}' contains spaces which is invalid.")
    if len(label) > MAX_LABEL:
        raise _field_error(
            "labels", f"The label '{label}' exceeds the {MAX_LABEL} character limit."
        )


def _label_ops(current: list[str], operations: Any) -> list[str]:
    labels = set(current)
    for op in operations if isinstance(operations, list) else []:
        if not isinstance(op, dict) or len(op) != 1:
            raise _field_error("labels", "Each operation must name exactly one of add, remove, set")
        ((verb, value),) = op.items()
        if verb == "set":
            labels = set(_check_labels(value))
        elif verb in ("add", "remove") and isinstance(value, str):
            _check_label(value)
            if verb == "add":
                labels.add(value)
            else:
                labels.discard(value)
        else:
            raise _field_error("labels", f"Operation {verb} is not supported for labels")
    return sorted(labels)


def _select_fields(
    wanted: list[str] | None, default: str, available: dict[str, Any]
) -> dict[str, Any]:
    """Jira's `fields` parameter: *all, *navigable, names, and -name exclusions."""
    specs = wanted or [default]
    chosen: dict[str, Any] = {}
    for spec in specs:
        spec = spec.strip()
        if spec == "*all":
            chosen.update(available)
        elif spec == "*navigable":
            chosen.update({k: v for k, v in available.items() if k != "comment"})
        elif spec in ("id", "key", "issuekey"):
            # The jira package maps "key" to its field id "issuekey"; both mean the issue key.
            chosen["key" if spec == "issuekey" else spec] = None
        elif spec in available:
            chosen[spec] = available[spec]
    for spec in specs:
        if spec.startswith("-"):
            chosen.pop(spec[1:], None)
    return chosen


def _int(value: Any, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _BadRequest(
            _error(400, [f"The value '{value}' for '{name}' is not a number."])
        ) from None
    if number < 0:
        raise _BadRequest(_error(400, [f"'{name}' must not be negative."]))
    return number


def _encode_token(offset: int, digest: str) -> str:
    raw = json.dumps({"o": offset, "q": digest}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str | None, digest: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["q"] != digest:
            raise ValueError("token belongs to another query")
        return int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise _BadRequest(
            _error(400, ["The provided next page token is invalid or expired."])
        ) from None


# --- HTTP plumbing ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30  # an idle keep-alive connection must not pin a thread forever

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log on the fake is the record; stderr noise helps nobody

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        if len(raw_body) < length:
            # The client died mid-request (the SIGKILL tests): nothing to answer or apply.
            self.server.fake.truncated(self.command, self.path)
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP names are case-free
        response, fault = self.server.fake._serve(self.command, self.path, headers, raw_body)
        if fault is not None:
            self._fail(fault)
        elif response is not None:
            self._send(response)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def _send(self, response: _Response) -> None:
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if payload:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-AREQUESTID", f"fake-{time.monotonic_ns()}")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _fail(self, fault: InjectedFault) -> None:
        if fault.effect in ("drop", "timeout"):
            if fault.effect == "timeout" and fault.rule is not None:
                time.sleep(fault.rule.delay)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        status = int(fault.effect)
        if fault.rule is not None and fault.rule.body is not None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(fault.rule.body)))
            self.end_headers()
            self.wfile.write(fault.rule.body)
            return
        messages = {429: "Rate limit exceeded.", 503: "Service Unavailable", 500: "Internal server error"}  # fmt: skip
        response = _error(status, [messages.get(status, f"Injected fault {status}")])
        response.headers.update(self.server.fake.faults.headers_for(fault))
        self._send(response)


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins handler threads: no stray sockets after a test
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: JiraFake) -> None:
        self.fake = fake
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Headers and body go out in two writes; without NODELAY, Nagle plus the client's
        # delayed ACK costs ~40 ms per request and a 5,000-issue benchmark would measure that.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.fake.tls is not None:
            # The handshake runs in the handler thread, so a stalled client blocks only itself.
            sock = self.fake.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._open_lock:
            self._open.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up or fail the TLS handshake are part of the tests
