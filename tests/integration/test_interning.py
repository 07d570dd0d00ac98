"""`--observations` files are interned: equal values become one object, and
nothing is ever replaced by a different value (discovery/interning.py)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from support.builders import NOW, failed, served
from ticketbridge.app.gather import read_observations
from ticketbridge.core.model import Observation
from ticketbridge.core.shapes import observations_jsonl
from ticketbridge.discovery.interning import ObservationInterner

EXPIRY = NOW + timedelta(days=40)


def _write(path: Path, observations: list[Observation]) -> Path:
    path.write_text("".join(observations_jsonl(observations)))
    return path


def test_a_file_reads_back_equal_with_one_object_per_distinct_value(tmp_path: Path) -> None:
    written = [
        served(f"n{i}.example.com", f"192.0.2.{i % 7}", ["*.example.com"], EXPIRY)
        for i in range(50)
    ] + [failed("down.example.com", "192.0.2.99")]
    interner = ObservationInterner()
    read = read_observations(_write(tmp_path / "a.jsonl", written), interner)
    assert read == written
    leaves = {id(o.certificate) for o in read if o.certificate is not None}
    assert len(leaves) == 1  # 50 copies of one certificate's facts, read as one object
    assert len({id(o.observed_at) for o in read}) == 1
    assert all(o.chain[0] is o.certificate for o in read if o.certificate is not None)

    # A second file (another shard) shares the first one's objects.
    again = read_observations(_write(tmp_path / "b.jsonl", written[:3]), interner)
    assert again[0].certificate is read[0].certificate


def test_a_hand_edited_copy_with_the_same_fingerprint_keeps_its_own_facts(tmp_path: Path) -> None:
    original = served("a.example.com", "192.0.2.1", ["a.example.com"], EXPIRY)
    assert original.certificate is not None
    edited_leaf = dataclasses.replace(original.certificate, subject="CN=someone else")
    edited = dataclasses.replace(
        original,
        endpoint=dataclasses.replace(original.endpoint, host="b.example.com", sni="b.example.com"),
        certificate=edited_leaf,
        chain=(edited_leaf,),
    )
    read = read_observations(
        _write(tmp_path / "a.jsonl", [original, edited]), ObservationInterner()
    )
    assert read == [original, edited]
    assert read[0].certificate is not None and read[1].certificate is not None
    assert read[0].certificate.fingerprint_sha256 == read[1].certificate.fingerprint_sha256
    assert read[1].certificate.subject == "CN=someone else"


def test_equal_endpoints_read_from_two_files_are_one_object(tmp_path: Path) -> None:
    observation = served("a.example.com", "192.0.2.1", ["a.example.com"], EXPIRY)
    interner = ObservationInterner()
    first = read_observations(_write(tmp_path / "a.jsonl", [observation]), interner)
    second = read_observations(_write(tmp_path / "b.jsonl", [observation]), interner)
    assert first[0].endpoint == observation.endpoint
    assert second[0].endpoint is first[0].endpoint
