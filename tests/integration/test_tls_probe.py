"""Real handshakes against loopback TLS servers: facts, chains, verdicts, and hostile peers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from support.certs import (
    HOSTILE_COMMON_NAMES,
    Issued,
    make_ca,
    make_intermediate,
    make_leaf,
    many_names,
)
from support.probing import ProbeOne, probe_among_many
from support.tlsservers import (
    Behaviour,
    FullBacklog,
    ScriptedServer,
    Served,
    TLSServer,
    banner_then_silence,
    close_at_once,
    endless_tls_records,
    garbage,
    plain_http,
    reset,
    slow_drip,
    tarpit,
)
from ticketbridge.core.model import Endpoint, ErrorKind, Observation
from ticketbridge.discovery import handshakes
from ticketbridge.discovery.tls import ProbeOptions, probe, probe_all
from ticketbridge.discovery.verify import TrustVerifier

NOW = datetime.now(UTC).replace(microsecond=0)
FAST = ProbeOptions(connect_timeout=1.0, handshake_timeout=1.0)


@pytest.fixture(scope="module")
def pki() -> dict[str, Issued]:
    root = make_ca(
        "Probe Test Root",
        not_before=NOW - timedelta(days=400),
        not_after=NOW + timedelta(days=3650),
    )
    intermediate = make_intermediate(
        root,
        "Probe Test Intermediate",
        not_before=NOW - timedelta(days=400),
        not_after=NOW + timedelta(days=60),
    )
    wildcard = make_leaf(
        intermediate,
        names=("*.example.com", "example.com"),
        not_before=NOW - timedelta(days=80),
        not_after=NOW + timedelta(days=9),
        key_slot="wildcard",
    )
    www = make_leaf(
        intermediate,
        names=("www.example.com",),
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=300),
        key_slot="www",
    )
    return {"root": root, "intermediate": intermediate, "wildcard": wildcard, "www": www}


@pytest.fixture(scope="module")
def verifier(pki: dict[str, Issued]) -> TrustVerifier:
    return TrustVerifier([pki["root"].certificate])


def endpoint(host: str, port: int, address: str = "127.0.0.2", sni: str | None = "") -> Endpoint:
    return Endpoint(host=host, port=port, address=address, sni=host if sni == "" else sni)


def run(coroutine: object) -> Observation:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


@pytest.fixture(params=[probe, probe_among_many], ids=["alone", "among-many"])
def probe_with(request: pytest.FixtureRequest) -> ProbeOne:
    """Both ways an endpoint is probed must observe the same: `probe` on its own (asyncio's
    sockets) and `probe_all`'s direct handshakes."""
    return request.param  # type: ignore[no-any-return]


def test_sni_selects_the_certificate_and_the_full_chain_is_read(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    probe_with: ProbeOne,
) -> None:
    chain_wildcard = Served([pki["wildcard"], pki["intermediate"]])
    chain_www = Served([pki["www"], pki["intermediate"]])
    with TLSServer(chain_wildcard, {"www.example.com": chain_www}) as server:
        app = run(probe_with(endpoint("app.example.com", server.port), FAST, verifier))
        www = run(probe_with(endpoint("www.example.com", server.port), FAST, verifier))

    assert app.status == "ok", app.error
    assert app.certificate is not None and app.certificate.names == ("*.example.com", "example.com")
    assert [c.subject for c in app.chain] == [
        pki["wildcard"].certificate.subject.rfc4514_string(),
        "CN=Probe Test Intermediate",
    ]
    assert app.verification is not None
    assert (app.verification.trusted, app.verification.hostname_match) == (True, True)
    assert app.effective_not_after == pki["wildcard"].certificate.not_valid_after_utc
    assert www.certificate is not None and www.certificate.names == ("www.example.com",)
    # www's leaf outlives the intermediate: the intermediate's expiry is the effective one.
    assert www.effective_not_after == pki["intermediate"].certificate.not_valid_after_utc
    assert server.server_names_seen == ["app.example.com", "www.example.com"]


def test_ip_literal_endpoints_send_no_sni_and_ipv6_works(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    probe_with: ProbeOne,
) -> None:
    leaf = make_leaf(
        pki["intermediate"],
        names=(),
        ip_addresses=("::1",),
        key_slot="ip",
        not_after=NOW + timedelta(days=30),
    )
    with TLSServer(Served([leaf, pki["intermediate"]]), address="::1") as server:
        observation = run(
            probe_with(endpoint("::1", server.port, address="::1", sni=None), FAST, verifier)
        )
    assert observation.status == "ok", observation.error
    assert server.server_names_seen == [None]
    assert observation.endpoint.label == f"::1:{server.port}@[::1]"
    assert observation.verification is not None and observation.verification.hostname_match


@pytest.mark.parametrize(
    ("case", "expected_error"),
    [
        ("expired", "expired"),
        ("not_yet_valid", "not yet valid"),
        ("self_signed", ""),
        ("missing_intermediate", ""),
        ("wrong_host", "hostname mismatch"),
    ],
)
def test_bad_certificates_still_yield_their_full_facts(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    case: str,
    expected_error: str,
    probe_with: ProbeOne,
) -> None:
    intermediate = pki["intermediate"]
    served = {
        "expired": lambda: [
            make_leaf(
                intermediate,
                names=("app.example.com",),
                not_before=NOW - timedelta(days=100),
                not_after=NOW - timedelta(days=2),
                key_slot="expired",
            ),
            intermediate,
        ],
        "not_yet_valid": lambda: [
            make_leaf(
                intermediate,
                names=("app.example.com",),
                not_before=NOW + timedelta(days=2),
                not_after=NOW + timedelta(days=90),
                key_slot="future",
            ),
            intermediate,
        ],
        "self_signed": lambda: [
            make_leaf(
                None,
                names=("app.example.com",),
                not_before=NOW - timedelta(days=1),
                not_after=NOW + timedelta(days=20),
                key_slot="self",
            )
        ],
        "missing_intermediate": lambda: [pki["wildcard"]],
        "wrong_host": lambda: [pki["www"], intermediate],
    }[case]()
    with TLSServer(Served(served)) as server:
        observation = run(probe_with(endpoint("app.example.com", server.port), FAST, verifier))

    assert observation.status == "ok", observation.error
    assert observation.certificate is not None
    assert observation.certificate.fingerprint_sha256 == hashlib.sha256(served[0].der).hexdigest()
    assert observation.certificate.not_after == served[0].certificate.not_valid_after_utc
    assert len(observation.chain) == len(served)
    verification = observation.verification
    assert verification is not None and verification.error
    assert expected_error in verification.error.lower()
    if case == "wrong_host":
        assert verification.trusted and not verification.hostname_match
    else:
        assert not verification.trusted
    if case == "self_signed":
        assert observation.certificate.self_signed


def test_a_served_self_signed_root_does_not_count_towards_effective_expiry(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    probe_with: ProbeOne,
) -> None:
    root = make_ca(
        "Short Root", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=5)
    )
    intermediate = make_intermediate(
        root, "Mid", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=200)
    )
    leaf = make_leaf(
        intermediate,
        names=("app.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=100),
        key_slot="rooted",
    )
    with TLSServer(Served([leaf, intermediate, root])) as server:
        observation = run(probe_with(endpoint("app.example.com", server.port), FAST, verifier))
    assert len(observation.chain) == 3
    assert observation.chain[2].self_signed and observation.chain[2].is_ca
    assert observation.effective_not_after == leaf.certificate.not_valid_after_utc


def test_a_hundred_certificate_chain_is_read_whole(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    probe_with: ProbeOne,
) -> None:
    chain: list[Issued] = []
    issuer = pki["root"]
    cas = []
    for index in range(99):
        issuer = make_intermediate(
            issuer,
            f"Deep CA {index}",
            not_before=NOW - timedelta(days=1),
            not_after=NOW + timedelta(days=400 + index),
        )
        cas.append(issuer)
    leaf = make_leaf(
        issuer,
        names=("deep.example.com",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=50),
        key_slot="deep",
    )
    chain = [leaf, *reversed(cas)]
    with TLSServer(Served(chain)) as server:
        started = time.monotonic()
        observation = run(probe_with(endpoint("deep.example.com", server.port), FAST, verifier))
    assert observation.status == "ok", observation.error
    assert len(observation.chain) == 100
    assert observation.verification is not None and not observation.verification.trusted
    assert time.monotonic() - started < 5


def test_five_thousand_sans_become_facts_or_a_classified_error(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    probe_with: ProbeOne,
) -> None:
    leaf = make_leaf(
        pki["intermediate"],
        names=many_names(5000),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=50),
        key_slot="huge",
    )
    with TLSServer(Served([leaf, pki["intermediate"]])) as server:
        observation = run(probe_with(endpoint("host1.example.com", server.port), FAST, verifier))
    if observation.status == "ok":
        assert observation.certificate is not None and len(observation.certificate.names) == 5000
    else:
        # OpenSSL caps a peer's certificate list at 100 KiB; the cap is a fact worth reporting.
        assert observation.error is not None
        assert observation.error.kind is ErrorKind.HANDSHAKE
        assert (
            "too large" in observation.error.message
            or "excessive" in observation.error.message.lower()
        )


@pytest.mark.parametrize("common_name", HOSTILE_COMMON_NAMES)
def test_malicious_subject_text_is_kept_verbatim_as_data(
    pki: dict[str, Issued],
    verifier: TrustVerifier,
    common_name: str,
    probe_with: ProbeOne,
) -> None:
    leaf = make_leaf(
        pki["intermediate"],
        names=("odd.example.com",),
        common_name=common_name,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=50),
        key_slot="odd",
    )
    with TLSServer(Served([leaf, pki["intermediate"]])) as server:
        observation = run(probe_with(endpoint("odd.example.com", server.port), FAST, verifier))
    assert observation.status == "ok", observation.error
    assert observation.certificate is not None
    assert observation.certificate.common_name == common_name
    assert observation.certificate.subject == leaf.certificate.subject.rfc4514_string()


@pytest.mark.parametrize(
    ("behaviour", "kinds", "within"),
    [
        (tarpit, {ErrorKind.TIMEOUT}, 3.0),
        (garbage, {ErrorKind.PROTOCOL}, 3.0),
        (endless_tls_records, {ErrorKind.PROTOCOL, ErrorKind.HANDSHAKE}, 3.0),
        (reset, {ErrorKind.RESET}, 3.0),
        (close_at_once, {ErrorKind.RESET, ErrorKind.HANDSHAKE}, 3.0),
        (plain_http, {ErrorKind.PROTOCOL}, 3.0),
        (slow_drip, {ErrorKind.TIMEOUT}, 3.0),
        (banner_then_silence, {ErrorKind.PROTOCOL}, 3.0),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_hostile_servers_become_classified_observations(
    behaviour: Behaviour,
    kinds: set[ErrorKind],
    within: float,
    probe_with: ProbeOne,
) -> None:
    with ScriptedServer(behaviour) as server:
        started = time.monotonic()
        observation = run(
            probe_with(endpoint("hostile.example.com", server.port, address=server.address), FAST)
        )
        elapsed = time.monotonic() - started
    assert observation.status == "error"
    assert observation.error is not None
    assert observation.error.kind in kinds, observation.error
    assert observation.certificate is None
    assert elapsed < within
    assert "\n" not in observation.error.message


@pytest.mark.parametrize(
    "behaviour",
    [tarpit, garbage, endless_tls_records, reset, plain_http, slow_drip, banner_then_silence],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_scan_words_a_hostile_server_as_a_lone_probe_does(behaviour: Behaviour) -> None:
    """The direct handshakes of a scan and the lone probe agree on the kind and the message
    (byte counts aside: how much of a drip or a flood arrived depends on timing)."""
    with ScriptedServer(behaviour) as server:
        target = endpoint("hostile.example.com", server.port, address=server.address)
        alone = run(probe(target, FAST))
        among = run(probe_among_many(target, FAST))
    assert alone.error is not None and among.error is not None
    assert among.error.kind is alone.error.kind
    counted = re.compile(r"\d+ bytes")
    assert counted.sub("N bytes", among.error.message) == counted.sub(
        "N bytes", alone.error.message
    )


def test_a_name_sni_cannot_carry_fails_as_a_lone_probe_fails(pki: dict[str, Issued]) -> None:
    """A 64-character label has no IDNA form: the endpoint fails the same way on both paths,
    after its connect (refused stays refused)."""
    unsendable = "a" * 64 + ".example.com"
    closed = socket.socket()
    closed.bind(("127.0.0.5", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    with TLSServer(Served([pki["wildcard"], pki["intermediate"]])) as server:
        for port in (server.port, closed_port):
            address = "127.0.0.2" if port == server.port else "127.0.0.5"
            target = endpoint(unsendable, port, address=address)
            alone = run(probe(target, FAST))
            among = run(probe_among_many(target, FAST))
            assert alone.error is not None and among.error is not None
            assert (among.error.kind, among.error.message) == (
                alone.error.kind,
                alone.error.message,
            )
            expected = ErrorKind.HANDSHAKE if port == server.port else ErrorKind.REFUSED
            assert among.error.kind is expected, among.error


def test_plain_http_is_named_as_not_tls(probe_with: ProbeOne) -> None:
    with ScriptedServer(plain_http) as server:
        observation = run(
            probe_with(endpoint("web.example.com", server.port, address=server.address), FAST)
        )
    assert observation.error is not None
    assert "does not speak TLS" in observation.error.message


def test_refused_and_connect_timeout_are_told_apart(probe_with: ProbeOne) -> None:
    probe_socket = socket.socket()
    probe_socket.bind(("127.0.0.5", 0))
    closed_port = probe_socket.getsockname()[1]
    probe_socket.close()
    refused = run(probe_with(endpoint("gone.example.com", closed_port, address="127.0.0.5"), FAST))
    assert refused.error is not None and refused.error.kind is ErrorKind.REFUSED

    with FullBacklog() as backlog:
        started = time.monotonic()
        stuck = run(
            probe_with(
                endpoint("stuck.example.com", backlog.port, address=backlog.address),
                ProbeOptions(connect_timeout=0.5, handshake_timeout=0.5),
            )
        )
        elapsed = time.monotonic() - started
    assert stuck.error is not None
    assert stuck.error.kind is ErrorKind.TIMEOUT
    assert elapsed < 3


def test_concurrency_is_bounded_and_tarpits_cost_only_their_timeout() -> None:
    with ScriptedServer(tarpit) as server:
        endpoints = [
            endpoint(f"t{index}.example.com", server.port, address=server.address)
            for index in range(12)
        ]

        async def collect() -> list[Observation]:
            return [
                o
                async for o in probe_all(
                    endpoints, ProbeOptions(connect_timeout=1, handshake_timeout=0.4), concurrency=4
                )
            ]

        started = time.monotonic()
        observations = asyncio.run(collect())
        elapsed = time.monotonic() - started
        accepted = sorted(server.accepted_at)
    # Connections come in waves of at most four, one wave per 0.4 s timeout. (The server's own
    # in-flight count can lag a client's close, so count accepts inside windows shorter than a wave.)
    assert len(accepted) == 12
    assert max(sum(1 for t in accepted if start <= t < start + 0.2) for start in accepted) <= 4
    assert len(observations) == 12
    assert all(o.error is not None and o.error.kind is ErrorKind.TIMEOUT for o in observations)
    # Three waves of 0.4 s, not twelve.
    assert 1.1 <= elapsed < 3.5


@pytest.mark.parametrize(
    ("connect_timeout", "handshake_timeout"),
    [(5.0, 0.3), (0.3, 5.0)],
    ids=["short-handshake", "short-connect"],
)
def test_each_phase_ends_at_its_own_timeout(
    probe_with: ProbeOne, connect_timeout: float, handshake_timeout: float
) -> None:
    """A handshake timeout shorter than the connect timeout still ends the handshake on time
    (and a server that never accepts, the connect on time), however the deadlines interleave."""
    options = ProbeOptions(connect_timeout=connect_timeout, handshake_timeout=handshake_timeout)
    if handshake_timeout < connect_timeout:
        with ScriptedServer(tarpit) as server:
            started = time.monotonic()
            target = endpoint("slow.example.com", server.port, address=server.address)
            observation = run(probe_with(target, options))
    else:
        with FullBacklog() as backlog:
            started = time.monotonic()
            target = endpoint("stuck.example.com", backlog.port, address=backlog.address)
            observation = run(probe_with(target, options))
    elapsed = time.monotonic() - started
    assert observation.error is not None and observation.error.kind is ErrorKind.TIMEOUT
    assert elapsed < 1.5, elapsed


def test_a_cancelled_scan_closes_every_connection_it_opened() -> None:
    """Interrupted mid-handshake (Ctrl-C, the run's deadline), probe_all leaves no descriptor
    behind: the direct handshakes in flight are closed with it."""

    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    with ScriptedServer(tarpit) as server:
        endpoints = [
            endpoint(f"t{index}.example.com", server.port, address=server.address)
            for index in range(8)
        ]

        async def cancel_midway() -> tuple[int, int, int]:
            before = open_descriptors()
            options = ProbeOptions(connect_timeout=5, handshake_timeout=5)

            async def consume() -> list[Observation]:
                return [o async for o in probe_all(endpoints, options, concurrency=8)]

            task = asyncio.create_task(consume())
            await asyncio.sleep(0.5)
            during = open_descriptors()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # The server's ends are in this process too: each closes once it sees the client's
            # close (tarpit polls every 50 ms); a leaked client socket would keep both open.
            for _ in range(40):
                if open_descriptors() <= before:
                    break
                await asyncio.sleep(0.05)
            return before, during, open_descriptors()

        before, during, after = asyncio.run(cancel_midway())
    assert during >= before + 8  # the handshakes were in flight
    assert after == before


def test_where_epoll_is_missing_a_scan_probes_through_asyncio(
    pki: dict[str, Issued], verifier: TrustVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """epoll is Linux's: elsewhere the direct handshakes are not built and nothing else changes."""
    monkeypatch.setattr(handshakes, "_HAS_EPOLL", False)
    with TLSServer(Served([pki["wildcard"], pki["intermediate"]])) as server:
        observation = run(
            probe_among_many(endpoint("app.example.com", server.port), FAST, verifier)
        )
    assert observation.status == "ok", observation.error
    assert observation.verification is not None and observation.verification.trusted


def test_many_endpoints_each_yield_exactly_one_observation(
    pki: dict[str, Issued], verifier: TrustVerifier
) -> None:
    with TLSServer(Served([pki["wildcard"], pki["intermediate"]])) as server:
        endpoints = [endpoint(f"n{index}.example.com", server.port) for index in range(60)]

        async def collect() -> list[Observation]:
            return [o async for o in probe_all(endpoints, FAST, concurrency=16, verifier=verifier)]

        observations = asyncio.run(collect())
    assert sorted(o.endpoint.host for o in observations) == sorted(e.host for e in endpoints)
    assert all(o.status == "ok" for o in observations)
