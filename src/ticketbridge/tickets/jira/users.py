"""Naming a Jira user in a write: a username on Data Center, an accountId on Cloud."""

from __future__ import annotations

import re
from typing import Final

from ticketbridge.infra.retrying import Safety
from ticketbridge.tickets.jira.api import JiraApi, JiraPermanentError

__all__ = ["ACCOUNT_ID", "UserDirectory"]

# Cloud accountIds: 24 hex digits (older accounts) or `<number>:<uuid>`.
ACCOUNT_ID: Final = re.compile(r"[0-9a-f]{24}|\d+:[0-9A-Za-z-]+")


class UserDirectory:
    """Resolves the assignees ticketbridge is configured with, once each per process."""

    def __init__(self, api: JiraApi) -> None:
        self._api = api
        self._accounts: dict[str, str] = {}

    def reference(self, who: str) -> dict[str, str]:
        """The user object of a write: `{"name": ...}` on Data Center, `{"accountId": ...}` on Cloud."""
        if not self._api.cloud:
            return {"name": who}
        return {"accountId": self.account_id(who)}

    def account_id(self, who: str) -> str:
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
            wanted = who.casefold()
            matches = {
                str(user["accountId"])
                for user in found or []
                if isinstance(user, dict)
                and user.get("accountId")
                and wanted
                in {str(user.get(f, "")).casefold() for f in ("emailAddress", "displayName")}
            }
            if len(matches) != 1:
                raise JiraPermanentError(
                    f"assignee {who!r}: {'no' if not matches else 'more than one'} Jira Cloud "
                    "user matches; name them by email or accountId"
                )
            self._accounts[who] = matches.pop()
        return self._accounts[who]
