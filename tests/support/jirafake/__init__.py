"""A faithful, stateful, Jira-compatible HTTP server (Cloud and Data Center) for the tests.

with JiraFake(flavour="cloud", search_lag=1, seed=7) as jira:
    jira.seed_issue("Renew *.example.com", duedate=date(2027, 9, 1))
    jira.faults.add(FaultRule(effect=500, method="POST", path=r"/issue$", when="after"))
    client = JIRA(jira.url, max_retries=0, **jira.auth_kwargs())
    ...
    assert jira.write_count() == 0
    assert [i.key for i in jira.state.issues.values()] == ["OPS-1"]
"""

from .faults import FaultRule, Faults, InjectedFault
from .jql import JqlError
from .server import JiraFake, RequestRecord
from .state import (
    Comment,
    FakeState,
    IssueRecord,
    Project,
    Transition,
    User,
    default_transitions,
    jira_timestamp,
)

__all__ = [
    "Comment",
    "FakeState",
    "FaultRule",
    "Faults",
    "InjectedFault",
    "IssueRecord",
    "JiraFake",
    "JqlError",
    "Project",
    "RequestRecord",
    "Transition",
    "User",
    "default_transitions",
    "jira_timestamp",
]
