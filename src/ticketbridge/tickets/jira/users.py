"""Naming a Jira user in a write: a username on Data Center, an accountId on Cloud, if assignable."""

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

    A user who exists may still not be assignable in the project (no *Assignable User* there,
    or, on Data Center, a deactivated account): Jira then refuses the whole create ("User '…'
    cannot be assigned issues."). So every assignee is first looked up with the assignable-user
    search for the project (`user/assignable/search`: `accountId` on Cloud, `username` on Data
    Center; CLOUD3 findAssignableUsers, DC api/2/user/assignable/search), and one who is not
    listed gives an unassigned ticket whose evidence says who and why.
    """

    def __init__(self, api: JiraApi, project: str) -> None:
        self._api = api
        self._project = project
        self._accounts: dict[str, str | None] = {}
        self._verdicts: dict[str, tuple[dict[str, str] | None, str | None]] = {}

    def reference(self, who: str) -> dict[str, str] | None:
        """The user object of a write (`{"name"}` on DC, `{"accountId"}` on Cloud), or None
        when `who` cannot be assigned in the project (`problem` says why)."""
        return self._verdict(who)[0]

    def problem(self, who: str) -> str | None:
        """Why `who` cannot be assigned in the project, in one line; None when they can."""
        return self._verdict(who)[1]

    def _verdict(self, who: str) -> tuple[dict[str, str] | None, str | None]:
        if who not in self._verdicts:
            if self._api.cloud:
                account = self.account_id(who)
                if account is None:
                    self._verdicts[who] = (None, unresolved(who))
                else:
                    found = self._assignable({"accountId": account}, who)
                    listed = any(user.get("accountId") == account for user in found)
                    self._verdicts[who] = (
                        ({"accountId": account}, None) if listed else (None, self._not(who))
                    )
            else:
                found = self._assignable({"username": who, "maxResults": 1000}, who)
                listed = any(
                    str(user.get("name", "")).casefold() == who.casefold() for user in found
                )
                self._verdicts[who] = ({"name": who}, None) if listed else (None, self._not(who))
        return self._verdicts[who]

    def _assignable(self, params: dict[str, str | int], who: str) -> list[dict[str, object]]:
        what = f"look up whether {who!r} can be assigned in {self._project}"
        found = self._api.call(
            "GET",
            "user/assignable/search",
            params={**params, "project": self._project},
            safety=Safety.READ,
            what=what,
        )
        if not isinstance(found, list):
            raise odd(what, "not a list of users")
        return [user for user in found if isinstance(user, dict)]

    def _not(self, who: str) -> str:
        inactive = "" if self._api.cloud else ", is deactivated"
        return (
            f"Jira does not list {who!r} among the users who can be assigned issues in "
            f"{self._project} (the account is unknown{inactive}, or lacks the Assignable User "
            "permission there): tickets are created unassigned, naming them in the evidence"
        )

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
