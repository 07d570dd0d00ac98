"""Naming a Jira user in a write: a username on Data Center, an accountId on Cloud."""

from __future__ import annotations

import re
from typing import Final

from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import JiraApi
from ticketbridge.tickets.jira.failures import JiraPermanentError, odd

__all__ = ["ACCOUNT_ID", "UserDirectory", "unresolved"]

# Cloud accountIds: 24 hex digits (older accounts) or `<number>:<uuid>`.
ACCOUNT_ID: Final = re.compile(r"[0-9a-f]{24}|\d+:[0-9A-Za-z-]+")


class UserDirectory:
    """Resolves the assignees ticketbridge is configured with, once each per process.

    Cloud names users by accountId only. `user/search` matches an e-mail address only when the
    user's profile lets the caller see it, and answers an empty list to callers without the
    *Browse users and groups* permission (developer.atlassian.com/cloud/jira/platform/rest/v3/
    api-group-user-search/#api-rest-api-3-user-search-get: "Privacy controls are applied to the
    response based on the users' preferences"; calls without the permission "return empty
    search results"). An assignee that cannot be resolved is reported, never guessed.
    """

    def __init__(self, api: JiraApi) -> None:
        self._api = api
        self._accounts: dict[str, str | None] = {}

    def reference(self, who: str) -> dict[str, str] | None:
        """The user object of a write (`{"name"}` on DC, `{"accountId"}` on Cloud), or None
        when Cloud cannot resolve `who`."""
        if not self._api.cloud:
            return {"name": who}
        account = self.account_id(who)
        return None if account is None else {"accountId": account}

    def problem(self, who: str) -> str | None:
        """Why `who` cannot be assigned on this Jira, in one line; None when it can."""
        if not self._api.cloud or self.account_id(who) is not None:
            return None
        return unresolved(who)

    def account_id(self, who: str) -> str | None:
        if ACCOUNT_ID.fullmatch(who):
            return who
        if who not in self._accounts:
            found = self._api.call(
                "GET",
                "user/search",
                params={"query": who},
                safety=Safety.READ,
                what=f"look up the Jira user {who!r}",
            )
            if not isinstance(found, list):
                raise odd(f"look up the Jira user {who!r}", "not a list of users")
            wanted = who.casefold()
            matches = {
                str(user["accountId"])
                for user in found
                if isinstance(user, dict)
                and user.get("accountId")
                and wanted
                in {str(user.get(f, "")).casefold() for f in ("emailAddress", "displayName")}
            }
            if len(matches) > 1:
                raise JiraPermanentError(
                    f"assignee {who!r}: more than one Jira Cloud user matches; name them by "
                    "accountId"
                )
            self._accounts[who] = matches.pop() if matches else None
        return self._accounts[who]


def unresolved(who: str) -> str:
    return (
        f"Jira Cloud returns no account for {who!r} (its e-mail is hidden by profile "
        "visibility, or the token lacks 'Browse users and groups'): tickets are created "
        "unassigned, naming them in the evidence; configure their accountId instead"
    )
