"""Shared fixtures for the command-line tests: a real process, real TLS servers, a throwaway PKI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from support.certs import Issued, make_ca, make_intermediate, make_leaf
from support.tlsservers import Served, TLSServer

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="session")
def pki() -> dict[str, Issued]:
    """The incident's certificates: a wildcard expiring in 5 days, www months away."""
    root = make_ca(
        "CLI Root", not_before=NOW - timedelta(days=100), not_after=NOW + timedelta(days=3000)
    )
    intermediate = make_intermediate(
        root,
        "CLI Intermediate",
        not_before=NOW - timedelta(days=100),
        not_after=NOW + timedelta(days=900),
    )
    wildcard = make_leaf(
        intermediate,
        names=("*.example.com", "example.com"),
        not_before=NOW - timedelta(days=85),
        not_after=NOW + timedelta(days=5),
        key_slot="cli-wild",
    )
    www = make_leaf(
        intermediate,
        names=("www.example.com",),
        not_before=NOW - timedelta(days=5),
        not_after=NOW + timedelta(days=300),
        key_slot="cli-www",
    )
    return {"root": root, "intermediate": intermediate, "wildcard": wildcard, "www": www}


@pytest.fixture(scope="session")
def server(pki: dict[str, Issued]) -> Iterator[TLSServer]:
    """Serves the wildcard by default and www's own certificate to SNI www.example.com."""
    with TLSServer(
        Served([pki["wildcard"], pki["intermediate"]]),
        {"www.example.com": Served([pki["www"], pki["intermediate"]])},
        address="127.0.0.6",
    ) as running:
        yield running
