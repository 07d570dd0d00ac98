"""Observations written as JSON text by pydantic's serializer say exactly what the dict path
(`observation_to_json` and `json.dumps`) says, for hostile text too."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from support.builders import failed, served
from support.certs import HOSTILE_COMMON_NAMES
from ticketbridge.core.model import ErrorKind, Observation
from ticketbridge.core.shapes import (
    observation_from_json,
    observation_json_text,
    observation_to_json,
)

NOT_AFTER = datetime(2027, 3, 1, tzinfo=UTC)
# Beyond the hostile names: every JSON escape class, the two line separators JavaScript
# treats as newlines, a lone surrogate's neighbours, astral-plane text and NUL.
ODD_TEXT = (*HOSTILE_COMMON_NAMES, "\u2028\u2029", "\x00\x7f\x9f", "名前 😀", "tab\there\r\n")


def observations() -> list[Observation]:
    made: list[Observation] = []
    for text in ODD_TEXT:
        ok = served("www.example.com", "192.0.2.1", ["www.example.com"], NOT_AFTER)
        assert ok.certificate is not None
        leaf = replace(ok.certificate, subject=f"CN={text}", common_name=text)
        made.append(replace(ok, certificate=leaf, chain=(leaf,)))
        bad = failed("api.example.com", "192.0.2.2", ErrorKind.HANDSHAKE)
        assert bad.error is not None
        made.append(replace(bad, error=replace(bad.error, message=text)))
        sourced = replace(ok.endpoint, source=f"zone:{text}")
        made.append(replace(ok, endpoint=sourced))
    return made


@pytest.mark.parametrize("observation", observations())
def test_the_text_is_the_dict_path_byte_for_byte(observation: Observation) -> None:
    expected = json.dumps(
        observation_to_json(observation), ensure_ascii=False, separators=(",", ":")
    )
    assert observation_json_text(observation) == expected


@pytest.mark.parametrize("observation", observations())
def test_the_text_reads_back_as_the_same_observation(observation: Observation) -> None:
    assert observation_from_json(json.loads(observation_json_text(observation))) == observation


def test_a_hand_listed_endpoint_shows_no_source_and_a_sourced_one_does() -> None:
    hand = served("www.example.com", "192.0.2.1", ["www.example.com"], NOT_AFTER)
    sourced = replace(hand, endpoint=replace(hand.endpoint, source="zone:zones/db.example.com"))
    assert "source" not in json.loads(observation_json_text(hand))["endpoint"]
    assert json.loads(observation_json_text(sourced))["endpoint"]["source"] == (
        "zone:zones/db.example.com"
    )
