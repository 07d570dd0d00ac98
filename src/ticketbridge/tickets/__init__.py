"""Ticket system adapters behind the TicketSystem protocol."""
