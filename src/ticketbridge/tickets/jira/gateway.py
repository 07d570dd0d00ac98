"""Where API calls go: the site itself, or Atlassian's gateway that scoped tokens must call.

Service accounts get scoped API tokens only, and those are refused on the site URL: they call
`https://api.atlassian.com/ex/jira/<cloudId>/rest/api/3/...` (support.atlassian.com/
atlassian-cloud/kb/401-unauthorized-error-when-service-account-accesses-jira-or-confluence-api).
A site names its cloud id, without credentials, at `https://<site>/_edge/tenant_info`
(support.atlassian.com/jira/kb/retrieve-my-atlassian-sites-cloud-id). Links for people
(`/browse/KEY`) stay on the site URL either way.
"""

from __future__ import annotations

import re
from typing import Any, Final

from ticketbridge.errors import ConfigError
from ticketbridge.tickets.jira.failures import odd

__all__ = ["DISCOVER", "GATEWAY", "check_cloud_id", "cloud_id_from", "gateway_base", "token_kind"]

DISCOVER: Final = "discover"  # `jira.cloud_id = "discover"`: ask the site
GATEWAY: Final = "https://api.atlassian.com"
_CLOUD_ID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


def check_cloud_id(value: str) -> None:
    if value and value != DISCOVER and not _CLOUD_ID.fullmatch(value):
        raise ConfigError(
            f'jira.cloud_id: {value[:40]!r} is not a cloud id (a UUID) nor "{DISCOVER}"'
        )


def gateway_base(gateway: str, cloud_id: str) -> str:
    return f"{gateway.rstrip('/')}/ex/jira/{cloud_id}"


def cloud_id_from(answer: Any, what: str) -> str:
    """The `cloudId` of a tenant_info answer, checked before it becomes part of every URL."""
    found = answer.get("cloudId") if isinstance(answer, dict) else None
    if not isinstance(found, str) or not _CLOUD_ID.fullmatch(found):
        raise odd(what, "no cloudId")
    return found


def token_kind(cloud: bool, cloud_id: str, base: str) -> str:
    """Which kind of token is in use, as `doctor` says it."""
    if not cloud:
        return "a personal access token (Data Center, Bearer)"
    if cloud_id:
        return f"a scoped API token (service account), API calls via {base}"
    return "a classic API token (email + token), API calls on the site URL"
