"""Jira Cloud and Data Center behind the TicketSystem port."""

from ticketbridge.tickets.jira.options import JiraOptions
from ticketbridge.tickets.jira.system import (
    JiraPermanentError,
    JiraTicketSystem,
    JiraTransientError,
    choose_transition,
)

__all__ = [
    "JiraOptions",
    "JiraPermanentError",
    "JiraTicketSystem",
    "JiraTransientError",
    "choose_transition",
]
