"""Effective expiry, validated path and strays from real handshakes and real files, held to
`openssl verify` for the verdict on every shape (SPEC "Effective expiry")."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from oracle.chains import BuiltChain, CertSpec, ChainSpec
from oracle.openssl import openssl_verdict
from support.servedpki import Scenario, scenarios
from support.tlsservers import Served, TLSServer
from ticketbridge.core.model import Endpoint, Observation
from ticketbridge.discovery.files import FileSource, observe_files
from ticketbridge.discovery.tls import ProbeOptions, probe
from ticketbridge.discovery.verify import TrustVerifier
from ticketbridge.testing.pki import Issued

NOW = datetime.now(UTC).replace(microsecond=0)
HOST = "app.example.com"
FAST = ProbeOptions(connect_timeout=2.0, handshake_timeout=2.0)
SCENARIOS = scenarios(NOW, HOST)


def fingerprints(items: tuple[Issued, ...]) -> list[str]:
    from ticketbridge.core.x509facts import fingerprint_sha256

    return [fingerprint_sha256(item.der) for item in items]


def oracle_trusts(scenario: Scenario) -> bool:
    # The chain is hand-built: the spec is a placeholder the oracle does not read.
    chain = BuiltChain(
        spec=ChainSpec(root=CertSpec(), intermediates=(), leaf=CertSpec()),
        served=tuple(item.certificate for item in scenario.served),
        anchors=tuple(item.certificate for item in scenario.anchors),
        host=HOST,
        now=NOW,
    )
    return openssl_verdict(chain).trusted


def verifier(scenario: Scenario) -> TrustVerifier:
    return TrustVerifier([anchor.certificate for anchor in scenario.anchors])


def assert_answers(observation: Observation, scenario: Scenario) -> None:
    assert observation.ok, observation.error
    assert observation.effective_not_after == scenario.effective
    assert observation.validated_path_not_after == scenario.validated
    assert [s.fingerprint_sha256 for s in observation.strays] == fingerprints(scenario.strays)
    off_path = observation.off_path_expiry
    expected = fingerprints((scenario.off_path,)) if scenario.off_path else []
    assert ([off_path.fingerprint_sha256] if off_path else []) == expected


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_served_chain_over_tls(name: str) -> None:
    scenario = SCENARIOS[name]
    with TLSServer(Served(scenario.served)) as server:
        endpoint = Endpoint(host=HOST, port=server.port, address=server.address, sni=HOST)
        observation = asyncio.run(probe(endpoint, FAST, verifier(scenario)))

    assert_answers(observation, scenario)
    assert observation.verification is not None
    # Every shape here is one OpenSSL clients accept; the verdict must agree.
    assert oracle_trusts(scenario) is True
    assert observation.verification.trusted is True, observation.verification.error


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_bundle_file_in_every_order(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    for number, order in enumerate(itertools.permutations(scenario.served)):
        path = tmp_path / f"bundle{number}.pem"
        path.write_bytes(b"".join(item.pem for item in order))

        observations = observe_files([FileSource(str(path))], NOW, verifier(scenario))

        assert len(observations) == 1, [o.endpoint.label for o in observations]
        observation = observations[0]
        assert observation.certificate is not None
        assert observation.certificate.names == (HOST,)
        assert observation.endpoint.address == f"#{order.index(scenario.served[0])}"
        assert_answers(observation, scenario)
        assert observation.verification is not None
        assert observation.verification.trusted is True, observation.verification.error
        assert openssl_accepts_with_untrusted_file(scenario, path)


def openssl_accepts_with_untrusted_file(scenario: Scenario, bundle: Path) -> bool:
    """`openssl verify -untrusted FILE`, the reading SPEC asks of a bundle (openssl-verify(1)),
    with the options of tests/oracle/openssl.py."""
    directory = bundle.parent
    (directory / "anchors.pem").write_bytes(b"".join(a.pem for a in scenario.anchors))
    (directory / "leaf.pem").write_bytes(scenario.served[0].pem)
    command = [
        "openssl", "verify", "-auth_level", "2", "-purpose", "sslserver",
        "-attime", str(int(NOW.timestamp())), "-CAfile", str(directory / "anchors.pem"),
        "-untrusted", str(bundle), str(directory / "leaf.pem"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    return result.returncode == 0


def test_a_ca_bundle_keeps_each_unrelated_ca_tracked_with_its_issuers(tmp_path: Path) -> None:
    scenario = SCENARIOS["stray-expired"]
    _leaf, stray, intermediate = scenario.served
    root = scenario.anchors[0]
    path = tmp_path / "ca-bundle.pem"
    path.write_bytes(b"".join(item.pem for item in (root, stray, intermediate)))

    observations = observe_files([FileSource(str(path))], NOW)

    chains = {o.endpoint.address: fingerprints_of(o) for o in observations}
    assert chains == {
        "#1": fingerprints((stray,)),
        "#2": fingerprints((intermediate, root)),
    }
    assert all(not o.strays for o in observations)


def fingerprints_of(observation: Observation) -> list[str]:
    return [facts.fingerprint_sha256 for facts in observation.chain]


def test_certificates_cross_signed_in_a_loop_end_the_walk_at_once() -> None:
    # A signed by B and B signed by A, both served: every path stops where it would repeat.
    from datetime import timedelta

    from ticketbridge.discovery.servedpaths import served_paths
    from ticketbridge.testing.pki import issue, new_key

    day = timedelta(days=1)
    key_a, key_b = new_key(), new_key()
    root_b = issue(
        "Loop B", None, not_before=NOW - day, not_after=NOW + 90 * day, ca=True, key=key_b
    )
    a_by_b = issue(
        "Loop A", root_b, not_before=NOW - day, not_after=NOW + 80 * day, ca=True, key=key_a
    )
    b_by_a = issue(
        "Loop B", a_by_b, not_before=NOW - day, not_after=NOW + 70 * day, ca=True, key=key_b
    )
    leaf = issue(HOST, a_by_b, not_before=NOW - day, not_after=NOW + 100 * day, names=[HOST])

    paths = served_paths([leaf.der, a_by_b.der, b_by_a.der])

    assert paths.on_path == (1, 2)
    assert paths.strays == ()
    assert paths.effective_not_after == b_by_a.certificate.not_valid_after_utc
    assert paths.trusted_path_found is False


def test_a_flood_of_same_name_intermediates_in_a_bundle_stays_cheap(tmp_path: Path) -> None:
    # 300 decoys named like the real intermediate, under other keys, ahead of it in the file:
    # their key identifiers rule them out before any signature, and the leaf still finds its own.
    import time
    from datetime import timedelta

    from ticketbridge.testing.pki import issue

    scenario = SCENARIOS["plain"]
    leaf, intermediate = scenario.served
    root = scenario.anchors[0]
    name = intermediate.certificate.subject.rfc4514_string().removeprefix("CN=")
    decoys = [
        issue(
            name,
            root,
            not_before=NOW - timedelta(days=9),
            not_after=NOW - timedelta(days=1),
            ca=True,
        )
        for _ in range(300)
    ]
    path = tmp_path / "flood.pem"
    path.write_bytes(b"".join(item.pem for item in (*decoys, intermediate, leaf)))

    started = time.monotonic()
    observations = observe_files([FileSource(str(path))], NOW, verifier(scenario))
    elapsed = time.monotonic() - started

    (observation,) = observations
    assert fingerprints_of(observation) == fingerprints((leaf, intermediate))
    assert len(observation.strays) == 300
    assert observation.effective_not_after == scenario.effective
    assert elapsed < 10  # well under a second on a quiet machine
