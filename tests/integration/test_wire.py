"""The workers' messages (discovery/wire.py): every field arrives as sent, each value crosses a pipe
once, and the parent ends up with its own endpoints and one object per distinct value."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import timedelta

from support.builders import NOW, facts, failed, served
from ticketbridge.core.hsts import Hsts, HstsError
from ticketbridge.core.model import (
    CertFacts,
    Endpoint,
    ErrorKind,
    Observation,
    ProbeError,
    Scanner,
    Verification,
)
from ticketbridge.discovery.wire import Message, ObservationPacker, ObservationUnpacker

EXPIRY = NOW + timedelta(days=40)


def _through_a_pipe(message: Message) -> Message:
    """What multiprocessing's Connection does to a message: pickled, then unpickled."""
    received: Message = pickle.loads(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
    return received


def _sent(packer: ObservationPacker, observations: list[Observation]) -> Message:
    return _through_a_pipe(packer.message([packer.row(o) for o in observations]))


def _probed(packer: ObservationPacker, share: list[Endpoint]) -> None:
    """The worker walks its share as it probes."""
    for _ in packer.endpoints(share):
        pass


def _everything_set() -> Observation:
    intermediate = facts(["Intermediate CA"], EXPIRY + timedelta(days=300))
    leaf = facts(["a.example.com"], EXPIRY)
    stray = facts(["old.example.com"], EXPIRY - timedelta(days=400))
    return Observation(
        endpoint=Endpoint("a.example.com", 443, "192.0.2.1", "a.example.com", source="zone:db"),
        observed_at=NOW,
        status="ok",
        error=ProbeError(ErrorKind.PROTOCOL, "no HSTS answer"),
        certificate=leaf,
        chain=(leaf, intermediate),
        effective_not_after=EXPIRY - timedelta(days=1),
        verification=Verification(trusted=False, hostname_match=True, error="expired"),
        validated_path_not_after=EXPIRY,
        strays=(stray,),
        hsts=Hsts(present=False, status=200, error=HstsError("invalid", "max-age twice")),
        scanner=Scanner("scanner-1", "2/4"),
    )


def test_every_field_of_an_observation_arrives_as_it_was_sent() -> None:
    sent = _everything_set()
    # A field added to Observation later must be set here too, or this test proves nothing
    # about it: every one differs from its default.
    defaults = Observation(sent.endpoint, NOW - timedelta(hours=1), "error")
    unset = [
        field.name
        for field in dataclasses.fields(Observation)
        if field.name != "endpoint" and getattr(sent, field.name) == getattr(defaults, field.name)
    ]
    assert unset == []

    share = [sent.endpoint]
    packer = ObservationPacker()
    _probed(packer, share)
    received = ObservationUnpacker(share, {}).observations(_sent(packer, [sent]))
    assert received == [sent]
    for field in dataclasses.fields(Observation):
        assert getattr(received[0], field.name) == getattr(sent, field.name), field.name
    # The endpoint is the parent's own object, `source` (not part of equality) included.
    assert received[0].endpoint is share[0]


def test_a_value_crosses_the_pipe_once_and_the_parent_holds_one_object_for_it() -> None:
    observations = [
        served(f"n{i}.example.com", f"192.0.2.{i % 5}", ["*.example.com"], EXPIRY)
        for i in range(300)
    ]
    share = [o.endpoint for o in observations]
    packer, unpacker = ObservationPacker(), ObservationUnpacker(share, {})
    _probed(packer, share)
    first = _sent(packer, observations[:150])
    second = _sent(packer, observations[150:])
    assert len(first[0]) == 6  # the time, "ok", the leaf, the chain, the expiry, no strays
    assert second[0] == []  # nothing new: numbers only
    assert len(pickle.dumps(second)) < 150 * 40  # bytes per observation, everything included

    received = unpacker.observations(first) + unpacker.observations(second)
    assert received == observations
    assert len({id(o.certificate) for o in received}) == 1
    assert len({id(o.chain) for o in received}) == 1
    assert all(o.chain[0] is o.certificate for o in received)
    assert all(o.endpoint is e for o, e in zip(received, share, strict=True))


def test_two_workers_chains_share_one_object_per_certificate() -> None:
    intermediate = facts(["Shared CA"], EXPIRY + timedelta(days=300))

    def chained(host: str, address: str) -> Observation:
        observation = served(host, address, [host], EXPIRY)
        assert observation.certificate is not None
        return dataclasses.replace(observation, chain=(observation.certificate, intermediate))

    # Each worker's copy of the intermediate arrives in another message and another tuple.
    left = [chained("a.example.com", "192.0.2.1"), chained("b.example.com", "192.0.2.1")]
    right = [chained("c.example.com", "192.0.2.2"), chained("a.example.com", "192.0.2.2")]
    shared: dict[object, object] = {}
    received = []
    for observations in (left, right):
        share = [o.endpoint for o in observations]
        packer, unpacker = ObservationPacker(), ObservationUnpacker(share, shared)
        _probed(packer, share)
        for observation in observations:  # a message each
            received += unpacker.observations(_sent(packer, [observation]))
    assert received == left + right
    assert len({id(o.chain[1]) for o in received}) == 1
    # a.example.com's chain, seen by both workers, is one tuple
    assert received[0].chain is received[3].chain


def test_equal_fingerprints_with_different_facts_stay_different() -> None:
    original = served("a.example.com", "192.0.2.1", ["a.example.com"], EXPIRY)
    assert original.certificate is not None
    edited: CertFacts = dataclasses.replace(original.certificate, subject="CN=someone else")
    other = dataclasses.replace(
        original,
        endpoint=Endpoint("b.example.com", 443, "192.0.2.1", "b.example.com"),
        certificate=edited,
        chain=(edited,),
    )
    share = [original.endpoint, other.endpoint]
    packer = ObservationPacker()
    _probed(packer, share)
    received = ObservationUnpacker(share, {}).observations(_sent(packer, [original, other]))
    assert received == [original, other]
    assert received[1].certificate is not None
    assert received[1].certificate.subject == "CN=someone else"


def test_endpoints_the_share_did_not_list_or_listed_twice_travel_whole() -> None:
    listed = failed("a.example.com", "192.0.2.1")
    twice = failed("b.example.com", "192.0.2.2", ErrorKind.REFUSED)
    unlisted = failed("c.example.com", "192.0.2.3", ErrorKind.RESET)
    share = [listed.endpoint, twice.endpoint, twice.endpoint]
    packer = ObservationPacker()
    _probed(packer, share)
    observations = [twice, unlisted, listed, twice]
    rows = [packer.row(o) for o in observations]
    assert [type(endpoint) for endpoint, _ in rows] == [int, Endpoint, int, Endpoint]
    received = ObservationUnpacker(share, {}).observations(_through_a_pipe(packer.message(rows)))
    assert received == observations
    assert received[0].endpoint is share[1] or received[0].endpoint is share[2]
    assert received[2].endpoint is share[0]
