"""Shared test servers and helpers (TLS servers, a Jira-compatible server)."""
