"""The shell around the sources: globs relative to the config, one endpoint per listing, and a
Secret's certificate observed like a file (an unreadable one is an observation, not a crash)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.certs import make_fullchain
from ticketbridge.app.config import load_settings
from ticketbridge.app.sources import merged_specs, observe_certificates, read_sources
from ticketbridge.core.model import ErrorKind, Protocol, Verification
from ticketbridge.discovery.resolve import EndpointSpec
from ticketbridge.sources.base import CertificateData, SourceError

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)


class _Untrusting:
    """A verifier that trusts nothing: the verdict is not what these tests are about."""

    def verdict(self, chain: object, server_name: str | None, now: datetime) -> Verification:
        return Verification(trusted=False, hostname_match=True, error="untrusted")


def test_a_glob_that_matches_nothing_is_an_error_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "ticketbridge.toml"
    config.write_text('[[sources.prometheus]]\nfile_sd = "targets/*.json"\n')
    with pytest.raises(
        SourceError, match=r"targets/\*\.json: no file matches \(sources.prometheus\)"
    ):
        read_sources(load_settings(config, environ={}), config)


def test_a_listing_repeated_across_sources_is_one_spec_and_the_hand_listed_one_wins() -> None:
    listed = [EndpointSpec("www.example.com", 443, ("192.0.2.1",))]
    sourced = [
        EndpointSpec("www.example.com", 443, ("192.0.2.1",), source="zone:a"),
        EndpointSpec("www.example.com", 443, ("192.0.2.1",), source="octodns:b"),
        EndpointSpec("www.example.com", 8443, ("192.0.2.1",), source="octodns:b"),
    ]
    merged = merged_specs(listed, sourced)
    assert [(spec.port, spec.source) for spec in merged] == [(443, None), (8443, "octodns:b")]


def test_a_secrets_certificates_are_observed_and_garbage_is_an_error_observation() -> None:
    leaf, intermediate, _ = make_fullchain(("shop.example.com",))
    good = CertificateData("m.yaml#secret/shop/shop", leaf.pem + intermediate.pem, "kubernetes:m")
    bad = CertificateData(
        "m.yaml#secret/shop/bad", b"-----BEGIN CERTIFICATE-----\nxx", "kubernetes:m"
    )
    ok, broken = observe_certificates([good, bad], NOW, _Untrusting())
    assert ok.status == "ok" and ok.certificate is not None
    assert ok.certificate.names == ("shop.example.com",) and len(ok.chain) == 2
    assert ok.endpoint.protocol is Protocol.FILE and ok.endpoint.source == "kubernetes:m"
    assert ok.endpoint.label == "file:m.yaml#secret/shop/shop#0"
    assert broken.status == "error" and broken.error is not None
    assert broken.error.kind is ErrorKind.FILE
