"""SPEC's JSON shapes, whole: an observation and a ticket to JSON and back, a tracked certificate
and its strays, JSONL lines, and the one line that names a bad observations file's line."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from support.builders import NOW, cert_id, endpoint, facts, fingerprint, served, ticket
from ticketbridge.core.model import TrackedCert
from ticketbridge.core.shapes import (
    certificate_to_json,
    dumps_line,
    observation_from_json,
    observation_to_json,
    observations_from_jsonl,
    observations_jsonl,
    stray_to_json,
    ticket_to_json,
)
from ticketbridge.errors import ObservationsFileError

WWW = ("www.example.com",)
EXPIRY = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)
STRAY = facts(("old-ca.example.net",), datetime(2026, 12, 1, tzinfo=UTC))


def test_an_observation_round_trips_and_shows_a_source_only_when_it_has_one() -> None:
    listed = served("www.example.com", "192.0.2.1", WWW, EXPIRY)
    data = observation_to_json(listed)
    assert data["endpoint"] == {
        "host": "www.example.com",
        "port": 443,
        "address": "192.0.2.1",
        "sni": "www.example.com",
        "protocol": "tls",
    }
    assert data["status"] == "ok"
    assert data["effective_not_after"] == "2026-12-24T12:00:00Z"
    assert observation_from_json(data) == listed

    zoned = replace(listed, endpoint=replace(listed.endpoint, source="zone:db.example.com"))
    data = observation_to_json(zoned)
    assert data["endpoint"]["source"] == "zone:db.example.com"
    assert observation_from_json(data).endpoint.source == "zone:db.example.com"


def test_a_tracked_certificate_in_specs_shape() -> None:
    observation = replace(
        served("www.example.com", "192.0.2.1", WWW, EXPIRY),
        strays=(STRAY,),
        validated_path_not_after=EXPIRY + timedelta(days=30),
    )
    cert = TrackedCert(
        id=cert_id(WWW),
        names=WWW,
        effective_not_after=EXPIRY,
        fingerprints=(fingerprint(WWW, EXPIRY),),
        endpoints=(endpoint("www.example.com", "192.0.2.1"),),
        observations=(observation,),
    )
    assert certificate_to_json(cert) == {
        "id": cert_id(WWW),
        "names": ["www.example.com"],
        "effective_not_after": "2026-12-24T12:00:00Z",
        "fingerprints": [fingerprint(WWW, EXPIRY)],
        "endpoints": ["www.example.com:443@192.0.2.1"],
        "validated_path_not_after": "2027-01-23T12:00:00Z",
        "strays": [
            {
                "fingerprint_sha256": STRAY.fingerprint_sha256,
                "subject": "CN=old-ca.example.net",
                "issuer": "CN=Test CA",
                "not_after": "2026-12-01T00:00:00Z",
            }
        ],
    }
    assert stray_to_json(STRAY) == certificate_to_json(cert)["strays"][0]


def test_a_json_line_is_compact_and_keeps_non_ascii_text() -> None:
    assert dumps_line({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'


def test_observations_to_jsonl_and_back() -> None:
    api = served("api.example.com", "192.0.2.2", ("api.example.com",), EXPIRY)
    observations = [
        served("www.example.com", "192.0.2.1", WWW, EXPIRY),
        api,
        replace(api, endpoint=replace(api.endpoint, source="zone:db.example.com")),
    ]
    lines = list(observations_jsonl(observations))
    assert lines == [dumps_line(observation_to_json(o)) + "\n" for o in observations]
    assert '"source":"zone:db.example.com"' in lines[2] and '"source"' not in lines[1]
    # blank lines between records are skipped
    read = list(observations_from_jsonl([lines[0], "\n", "  \n", *lines[1:]], "x"))
    assert read == observations


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{", "scan.jsonl: line 3: Expecting property name enclosed in double quotes"),
        ('{"status": "ok"}', "scan.jsonl: line 3: 2 validation errors for Observation"),
    ],
)
def test_a_bad_line_is_named_with_its_source_and_number(bad: str, message: str) -> None:
    good = next(observations_jsonl([served("www.example.com", "192.0.2.1", WWW, EXPIRY)]))
    with pytest.raises(ObservationsFileError) as raised:
        list(observations_from_jsonl([good, "", bad, good], "scan.jsonl"))
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__ is True


def test_a_ticket_in_json_says_whether_it_is_open_and_which_certificates_it_marks() -> None:
    open_one = ticket("OPS-1", labels=("ticketbridge", "tb-0123456789abcdef"))
    data = ticket_to_json(open_one)
    assert data["key"] == "OPS-1"
    assert data["is_open"] is True
    assert data["certificate_ids"] == ["0123456789abcdef"]
    assert json.loads(json.dumps(data)) == data
    done = replace(open_one, status="Done", status_category="done", resolved_at=NOW)
    assert ticket_to_json(done)["is_open"] is False
