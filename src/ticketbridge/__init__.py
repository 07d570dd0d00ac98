"""ticketbridge: track the certificates actually served and keep their renewal tickets honest."""

__version__ = "0.1.0"
