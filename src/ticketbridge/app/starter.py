"""The starter configuration `ticketbridge init` writes: commented TOML for the names a user gives."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass

from ticketbridge.errors import UsageError


@dataclass(frozen=True, slots=True)
class StarterEndpoint:
    host: str
    port: int = 443


def parse_endpoint(text: str) -> StarterEndpoint:
    """`app.example.com`, `app.example.com:8443`, `192.0.2.1:443` or `[2001:db8::1]:443`; a URL
    (`https://app.example.com/`) is read for its host and port, as a user pastes one."""
    value = text.strip()
    if "://" in value:
        scheme, _, rest = value.partition("://")
        value = rest.split("/", 1)[0]
        if ":" not in value.strip("[]") or value.endswith("]"):
            value += ":443" if scheme.lower() == "https" else ""
    host, port = _split_port(value, original=text)
    if not host or any(character.isspace() for character in host) or "/" in host:
        raise UsageError(f"init: {text!r} is not a host name, host:port or IP address")
    return StarterEndpoint(host=host.rstrip(".").lower(), port=port)


def _split_port(value: str, *, original: str) -> tuple[str, int]:
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise UsageError(f"init: {original!r} is not a host name, host:port or IP address")
    elif value.count(":") > 1:
        _ip_literal(value, original)  # a bare IPv6 address: no port to split off
        return value, 443
    else:
        host, _, port_text = value.partition(":")
    if not port_text:
        return host, 443
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise UsageError(f"init: {original!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def _ip_literal(value: str, original: str) -> None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise UsageError(
            f"init: {original!r} is not a host name, host:port or IP address"
        ) from None


def _quoted(text: str) -> str:
    # A TOML basic string and a JSON string share their escapes for everything we write here.
    return json.dumps(text, ensure_ascii=False)


_HEADER = """\
# ticketbridge configuration, written by `ticketbridge init`.
# Every key, with its default and what it does: config.example.toml in the project, or the README.
# Where it is read from: --config PATH, else $TICKETBRIDGE_CONFIG, else ./ticketbridge.toml.
# Relative paths below are relative to this file.
"""

_ENDPOINTS_HINT = """\
# One [[endpoints]] table per name to probe. Every address a name resolves to is probed, with the
# name as SNI: load-balancer nodes can serve different certificates for the same name.
"""

_NO_ENDPOINTS = """\
# Add the names you serve, one table each (or certificate files under [[files]]):
# [[endpoints]]
# host = "app.example.com"
# port = 443
# starttls = "smtp"            # smtp | imap | pop3 | ftp | postgres | ldap | xmpp
"""

_POLICY = """\
[policy]
lead_days = 21                 # a renewal ticket is due this many days before the certificate expires
ticket_horizon_days = 45       # open a ticket once expiry is this close
escalate_within_days = 14      # raise the priority inside this window
page_within_days = 3           # page on-call inside this window ([[alerts.*]] below)
timezone = "UTC"               # the zone in which due dates are computed
"""

_LOCAL_TICKETS = """\
[tickets]
backend = "local"              # the embedded ticket store: no Jira needed to start
local_path = "ticketbridge.db"
# To file tickets in Jira instead: backend = "jira" and fill in [jira] (ticketbridge init --jira URL --project KEY)
"""

_JIRA_TICKETS = """\
[tickets]
backend = "jira"

[jira]
url = {url}
project = {project}
issue_type = "Task"
email = ""                     # Cloud: the account's e-mail; Data Center: leave empty
# The API token (Cloud) or personal access token (Data Center): keep it out of this file,
#   export TICKETBRIDGE_JIRA__TOKEN=...
"""

_TAIL = """\
[audit]
log_path = "ticketbridge-audit.jsonl"  # the hash-chained trail `ticketbridge report` reads

[run]
deadline = 3600                # seconds a scheduled run may take

# Page on-call when expiry is near (deduplicated per certificate):
# [[alerts.pagerduty]]
# routing_key = ""             # the Events API v2 integration key
"""


_ZONE_HINT = """\
# Names from where they are kept: every A/AAAA/CNAME owner name of each zone file is probed at the
# addresses the zone gives it, with the owner name as SNI (wildcard owners are reported, not probed).
"""


def starter_config(
    endpoints: Sequence[StarterEndpoint],
    *,
    jira_url: str = "",
    project: str = "",
    zones: Sequence[str] = (),
    origin: str = "",
) -> str:
    """The commented TOML `init` writes: the embedded store unless a Jira URL is given; `zones`
    (paths as the config should name them) become `[[sources.zone]]` tables."""
    if bool(jira_url) != bool(project):
        raise UsageError("init: --jira and --project go together (the Jira URL and project key)")
    parts = [_HEADER]
    if zones:
        parts.append(_ZONE_HINT)
        for zone in zones:
            table = f"[[sources.zone]]\nfile = {_quoted(zone)}\n"
            if origin:
                table += f"origin = {_quoted(origin)}\n"
            parts.append(table + "ports = [443]\n")
    if endpoints:
        parts.append(_ENDPOINTS_HINT)
        for endpoint in endpoints:
            parts.append(
                f"[[endpoints]]\nhost = {_quoted(endpoint.host)}\nport = {endpoint.port}\n"
            )
    elif not zones:
        parts.append(_NO_ENDPOINTS)
    parts.append(_POLICY)
    if jira_url:
        parts.append(_JIRA_TICKETS.format(url=_quoted(jira_url), project=_quoted(project)))
    else:
        parts.append(_LOCAL_TICKETS)
    parts.append(_TAIL)
    return "\n".join(parts)
