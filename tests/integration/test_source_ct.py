"""`[[sources.ct]]` on crt.sh JSON exports and RFC 6962 get-entries answers built from real
certificates and precertificates."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.certs import make_ca, make_intermediate, make_leaf
from support.ctlog import crtsh_row, make_precertificate, precert_entry, write_json, x509_entry
from ticketbridge.sources.base import SourceError
from ticketbridge.sources.ct import read_ct

NOW = datetime(2026, 11, 26, 21, 30, tzinfo=UTC)
LOGGED = NOW - timedelta(days=1)
ROOT = make_ca("CT Root")
INTERMEDIATE = make_intermediate(ROOT, "CT Intermediate")


def test_a_crtsh_export_lists_each_row_with_serial_names_and_dates(tmp_path: Path) -> None:
    leaf = make_leaf(
        INTERMEDIATE,
        names=("www.example.com", "Example.com."),
        not_before=NOW - timedelta(days=3),
        not_after=NOW + timedelta(days=87),
        serial=0x03FFEEA5,
    )
    path = write_json(tmp_path / "crt.json", [crtsh_row(leaf.certificate, LOGGED, 7)])
    (logged,) = read_ct(path, label="ct:crt.json")
    assert logged.serial == "3ffeea5"  # crt.sh pads to 36 digits; the served serial has none
    assert logged.names == ("example.com", "www.example.com")
    assert logged.not_after == NOW + timedelta(days=87)
    assert logged.logged_at == LOGGED.replace(microsecond=0)
    assert not logged.precertificate and logged.source == "ct:crt.json"


def test_get_entries_with_a_certificate_and_a_precertificate(tmp_path: Path) -> None:
    leaf = make_leaf(INTERMEDIATE, names=("api.example.com",), not_after=NOW + timedelta(days=30))
    precert = make_precertificate(
        INTERMEDIATE,
        ("renewed.example.com",),
        not_before=NOW,
        not_after=NOW + timedelta(days=90),
        serial=0xABCDEF,
    )
    path = write_json(
        tmp_path / "entries.json",
        {
            "entries": [
                x509_entry(leaf.certificate, [INTERMEDIATE.certificate], LOGGED),
                precert_entry(precert, INTERMEDIATE, LOGGED),
            ]
        },
    )
    final, pre = read_ct(path, label="ct:entries.json")
    assert final.serial == format(leaf.certificate.serial_number, "x")
    assert final.names == ("api.example.com",) and not final.precertificate
    assert pre.serial == "abcdef" and pre.names == ("renewed.example.com",)
    assert pre.precertificate and pre.not_after == NOW + timedelta(days=90)
    assert pre.logged_at == LOGGED


def test_a_precert_entry_without_the_poison_is_refused(tmp_path: Path) -> None:
    # RFC 6962 section 3.1: a precertificate carries the critical poison extension; an entry
    # claiming to be one without it is not what a log would hold.
    leaf = make_leaf(INTERMEDIATE, names=("x.example.com",))
    entry = precert_entry(leaf.certificate, INTERMEDIATE, LOGGED)
    path = write_json(tmp_path / "entries.json", {"entries": [entry]})
    with pytest.raises(SourceError, match="entry 0: a precert_entry without the RFC 6962 poison"):
        read_ct(path, label="ct:x")


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"entries": [{"leaf_input": "@@", "extra_data": ""}]}, "entry 0: needs base64"),
        (
            {
                "entries": [
                    {"leaf_input": base64.b64encode(b"\0\0" + bytes(10)).decode(), "extra_data": ""}
                ]
            },
            "entry 0: truncated certificate",
        ),
        (
            {
                "entries": [
                    {"leaf_input": base64.b64encode(b"\1\0" + bytes(10)).decode(), "extra_data": ""}
                ]
            },
            "not a v1 timestamped MerkleTreeLeaf",
        ),
        ([{"name_value": "a.example.com"}], "entry 0: a crt.sh entry needs"),
        ({"certs": []}, "neither a crt.sh JSON export"),
    ],
    ids=["base64", "truncated", "version", "crtsh-fields", "shape"],
)
def test_a_broken_ct_file_names_the_file_and_entry(
    tmp_path: Path, document: object, expected: str
) -> None:
    path = write_json(tmp_path / "ct.json", document)
    with pytest.raises(SourceError) as raised:
        read_ct(path, label="ct:x")
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)
