"""The public test kit: in-memory fakes of the ports, a throwaway PKI and local TLS servers."""

from ticketbridge.testing.fakes import InMemoryPager, InMemoryTicketSystem, Write

__all__ = ["InMemoryPager", "InMemoryTicketSystem", "Write"]
