"""Jira Cloud and Data Center behind the TicketSystem port."""

from ticketbridge.tickets.jira.system import (
    JiraPermanentError,
    JiraTicketSystem,
    JiraTransientError,
    choose_transition,
)

__all__ = ["JiraPermanentError", "JiraTicketSystem", "JiraTransientError", "choose_transition"]
