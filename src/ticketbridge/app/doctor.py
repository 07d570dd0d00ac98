"""`ticketbridge doctor`: checks config, reachability, TLS, credentials, fields and permissions."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from ticketbridge.app.config import Settings
from ticketbridge.app.doctor_fields import screen_results
from ticketbridge.app.wiring import jira_options
from ticketbridge.core.ports import TransitionTarget, valid_field
from ticketbridge.errors import BackendError, ConfigError, PermanentBackendError
from ticketbridge.infra.clock import utcnow
from ticketbridge.tickets.jira.mapping import choose_transition
from ticketbridge.tickets.jira.screens import create_priorities, edit_priorities
from ticketbridge.tickets.jira.system import JiraTicketSystem
from ticketbridge.tickets.jira.users import UserDirectory

__all__ = ["PERMISSIONS", "CheckResult", "checks_to_json", "run_checks"]

Clock = Callable[[], datetime]
Sleep = Callable[[float], None]

# What a run does to tickets, as Jira's permission keys: (check name, key).
PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("browse", "BROWSE_PROJECTS"),
    ("create", "CREATE_ISSUES"),
    ("edit", "EDIT_ISSUES"),
    ("comment", "ADD_COMMENTS"),
    ("transition", "TRANSITION_ISSUES"),
    ("resolve", "RESOLVE_ISSUES"),
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One verdict: a short name, pass or fail, and a line saying what was found."""

    name: str
    ok: bool
    detail: str


def run_checks(
    settings: Settings,
    config_path: Path,
    *,
    clock: Clock = utcnow,
    sleep: Sleep = time.sleep,
) -> list[CheckResult]:
    """Every check for the configured backend, in order; read-only, writes nothing anywhere."""
    if settings.tickets.backend == "local":
        return _local_checks(settings, config_path)
    return list(_jira_checks(settings, config_path, clock, sleep))


def checks_to_json(results: Sequence[CheckResult]) -> dict[str, Any]:
    return {"ok": all(result.ok for result in results), "checks": [asdict(r) for r in results]}


# -- the embedded store ---------------------------------------------------------------------------


def _local_checks(settings: Settings, config_path: Path) -> list[CheckResult]:
    from ticketbridge.app.gather import resolve_relative
    from ticketbridge.tickets.local import LocalTicketStore

    results = [CheckResult("config", True, f'{config_path}: tickets.backend = "local"')]
    path = resolve_relative(settings.tickets.local_path, config_path)
    if not path.exists():
        parent_ok = path.parent.is_dir()
        detail = (
            f"{path} does not exist yet; the first reconcile creates it"
            if parent_ok
            else f"{path}: directory {path.parent} does not exist"
        )
        return [*results, CheckResult("ticket store", parent_ok, detail)]
    try:
        open_count = len(LocalTicketStore(path).open_tickets())
    except BackendError as exc:
        return [*results, CheckResult("ticket store", False, f"{path}: {exc}")]
    return [*results, CheckResult("ticket store", True, f"{path}: {open_count} open ticket(s)")]


# -- Jira -----------------------------------------------------------------------------------------


def _jira_checks(
    settings: Settings, config_path: Path, clock: Clock, sleep: Sleep
) -> Iterator[CheckResult]:
    jira = settings.jira
    try:
        system = JiraTicketSystem(jira_options(jira), clock=clock, sleep=sleep)
    except ConfigError as exc:
        yield CheckResult("config", False, f"{config_path}: {exc}")
        return
    # The adapter's address: never a `user:password@` from the URL (issue 14).
    yield CheckResult(
        "config", True, f"{config_path}: Jira {system.api.url}, project {jira.project}"
    )
    with system:
        yield from _jira_session_checks(settings, system)


def _jira_session_checks(settings: Settings, system: JiraTicketSystem) -> Iterator[CheckResult]:
    jira = settings.jira
    try:
        info = system.api.server_info()
        _jira_shaped(info, "deploymentType", "read the Jira server info")
    except BackendError as exc:
        tls = "TLS" in str(exc)
        yield CheckResult("reachability", tls, str(exc) if not tls else "Jira answered")
        if tls:
            yield CheckResult("TLS", False, str(exc))
        return
    yield CheckResult(
        "reachability", True, f"{info.get('serverTitle', 'Jira')} {info.get('version', '?')}"
    )
    yield _tls_check(system.api.url, jira.ca_bundle)
    # Before the credentials: a deployment mismatch is why Jira would refuse them.
    yield _guarded("deployment", lambda: _deployment_check(jira.deployment, info, system))
    try:
        me = system.api.myself()
    except BackendError as exc:
        yield CheckResult("credentials", False, str(exc))
        return
    who = me.get("displayName") or me.get("name") or me.get("accountId") or "?"
    # Which kind of token (issue 14): a scoped one calls the gateway, a classic one the site.
    yield CheckResult("credentials", True, f"authenticated as {who}, {system.api.token_kind}")
    try:
        project = system.api.get_json(f"project/{quote(jira.project, safe='')}")
        _jira_shaped(project, "key", "read the project")
        _jira_shaped(project, "name", "read the project")
    except BackendError as exc:
        yield CheckResult("project", False, str(exc))
        return
    yield CheckResult("project", True, f"{project['key']}: {project['name']}")
    yield _guarded("issue type", lambda: _issue_type_check(project, jira.issue_type))
    yield _guarded(
        "priority",
        lambda: _priority_check(system, jira.project, jira.issue_type, jira.escalation_priority),
    )
    yield from _assignee_results(settings, system)
    yield from _permission_results(system, jira.project)
    yield _guarded(
        "transition: done", lambda: _transition_check(system, "done", jira.done_transition)
    )
    yield _guarded(
        "transition: reopen",
        lambda: _transition_check(system, "reopen", jira.reopen_transition),
    )
    context = f"{jira.project}/{jira.issue_type}"
    yield from (CheckResult(*verdict) for verdict in screen_results(system, context))


def _jira_shaped(answer: Any, key: str, what: str) -> None:
    """Jira always sends `key` here: an answer without it is not Jira's, and fails the check."""
    if not isinstance(answer, dict) or not isinstance(answer.get(key), str) or not answer[key]:
        raise PermanentBackendError(f"{what}: unexpected answer from Jira: no {key}")


def _guarded(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    try:
        return check()
    except BackendError as exc:
        return CheckResult(name, False, str(exc))


def _transition_check(
    system: JiraTicketSystem, target: TransitionTarget, wanted: str
) -> CheckResult:
    """Read-only: the transitions Jira offers on a sample ticket in the state they start from.

    Creating a scratch issue would prove more but writes to a production project (and notifies
    its watchers); the workflow of a ticket in the right state is what a run will meet.
    """
    name = f"transition: {target}"
    sample = system.sample_ticket(done=target == "reopen")
    if sample is None:
        state = "closed" if target == "reopen" else "open"
        return CheckResult(
            name, True, f"no {state} ticket in the project to inspect; checked again on first use"
        )
    chosen = choose_transition(system.transitions_of(sample.key), target, wanted)
    if chosen is None:
        into = "into" if target == "done" else "out of"
        return CheckResult(
            name,
            False,
            f"{sample.key} ({sample.status}) offers no transition {into} the done category",
        )
    option, by_name = chosen
    how = "by name" if by_name else f"by status category; no transition named {wanted!r}"
    return CheckResult(
        name, True, f"{option.get('name')!r} from {sample.status} ({how}, seen on {sample.key})"
    )


def _tls_check(url: str, ca_bundle: str) -> CheckResult:
    parts = urlsplit(url)
    if parts.scheme == "https":
        anchors = f"trusting {ca_bundle}" if ca_bundle else "trusting the system CAs"
        return CheckResult("TLS", True, f"certificate of {parts.hostname} verified, {anchors}")
    if _is_loopback(parts.hostname or ""):
        return CheckResult("TLS", True, "plain HTTP to a loopback address")
    return CheckResult(
        "TLS", False, f"{url} is plain HTTP: the API token would cross the network unencrypted"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _deployment_check(
    configured: str, info: Mapping[str, Any], system: JiraTicketSystem
) -> CheckResult:
    reported = str(info.get("deploymentType", "?"))
    detected = "cloud" if reported.lower() == "cloud" else "datacenter"
    if configured != "auto" and configured != detected:
        return CheckResult(
            "deployment",
            False,
            f"jira.deployment = {configured!r}, but the server reports {reported!r}",
        )
    source = "detected" if configured == "auto" else "configured, and confirmed"
    return CheckResult(
        "deployment", True, f"{system.deployment} ({source}; deploymentType {reported})"
    )


def _issue_type_check(project: Mapping[str, Any], wanted: str) -> CheckResult:
    types = project.get("issueTypes") or []
    if not isinstance(types, list) or not all(isinstance(t, dict) for t in types):
        raise PermanentBackendError("read the project: unexpected answer from Jira: issueTypes")
    names = [str(t.get("name")) for t in types if not t.get("subtask")]
    if wanted.casefold() in {name.casefold() for name in names}:
        return CheckResult("issue type", True, f"{wanted} exists in {project.get('key')}")
    return CheckResult(
        "issue type",
        False,
        f"{wanted!r} is not an issue type of {project.get('key')}: {', '.join(names)}",
    )


def _priority_check(
    system: JiraTicketSystem, project: str, issue_type: str, wanted: str
) -> CheckResult:
    """Against the project's own screens: createmeta (and editmeta of an open ticket) list the
    priorities its scheme allows (`allowedValues`); the site-wide GET priority does not know
    the scheme and is deprecated on Cloud (developer.atlassian.com/cloud/jira/platform/rest/v3/
    api-group-issues/#api-rest-api-3-issue-createmeta-projectidorkey-issuetypes-issuetypeid-get,
    and .../#api-rest-api-3-issue-issueidorkey-editmeta-get)."""
    screens = [
        (
            f"the create screen of {project}/{issue_type}",
            create_priorities(system.api, project, issue_type),
        )
    ]
    sample = system.sample_ticket(done=False)
    if sample is not None:
        screens.append(
            (f"the edit screen of {sample.key}", edit_priorities(system.api, sample.key))
        )
    for screen, allowed in screens:
        if allowed is None:
            return CheckResult("priority", False, f"priority is not a field on {screen}")
        if wanted.casefold() not in {name.casefold() for name in allowed}:
            return CheckResult(
                "priority",
                False,
                f"escalation priority {wanted!r} is not allowed on {screen}: "
                f"{', '.join(allowed) or 'none'}",
            )
    where = " and ".join(screen for screen, _ in screens)
    return CheckResult("priority", True, f"escalation priority {wanted} is allowed on {where}")


def _assignee_results(settings: Settings, system: JiraTicketSystem) -> Iterator[CheckResult]:
    """Each configured assignee, as Jira can name them (Cloud needs an accountId) and assignable
    in the project (the assignable-user search)."""
    users = UserDirectory(system.api, settings.jira.project)
    for who in sorted({cert.assignee for cert in settings.certificates if cert.assignee}):
        name = f"assignee: {who}"
        try:
            problem = users.problem(valid_field("assignee", who))
        except BackendError as exc:
            yield CheckResult(name, False, str(exc))
            continue
        yield CheckResult(name, problem is None, problem or f"{who} can be assigned")


def _permission_results(system: JiraTicketSystem, project: str) -> Iterator[CheckResult]:
    keys = ",".join(key for _, key in PERMISSIONS)
    try:
        answer = system.api.get_json("mypermissions", {"projectKey": project, "permissions": keys})
        granted = answer.get("permissions") if isinstance(answer, dict) else None
        if not isinstance(granted, dict):
            raise PermanentBackendError("read my permissions: unexpected answer from Jira")
    except BackendError as exc:
        for name, _ in PERMISSIONS:
            yield CheckResult(f"permission: {name}", False, str(exc))
        return
    for name, key in PERMISSIONS:
        entry = granted.get(key)
        have = isinstance(entry, dict) and entry.get("havePermission") is True
        yield CheckResult(
            f"permission: {name}",
            have,
            f"{key} {'granted' if have else 'missing'} in {project}",
        )
