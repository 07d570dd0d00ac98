"""`[[sources.zone]]` on master files as BIND writes them, checked by BIND's own named-checkzone."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ticketbridge.core.model import Protocol
from ticketbridge.sources.base import SourceError
from ticketbridge.sources.records import Records
from ticketbridge.sources.zone import read_zone

DATA = Path(__file__).resolve().parents[1] / "data" / "sources" / "zones"
SAMPLE = DATA / "db.example.com"
LABEL = "zone:zones/db.example.com"


@pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="needs bind9-utils")
def test_the_sample_zone_is_one_bind_loads() -> None:
    checked = subprocess.run(
        ["named-checkzone", "-w", str(DATA), "example.com", SAMPLE.name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _by_host_port() -> dict[tuple[str, int], object]:
    result = read_zone(SAMPLE, origin="", ports=[443], label=LABEL)
    return {(t.host, t.port): t for t in result.targets}


def test_owners_with_addresses_are_endpoints_at_the_zones_addresses_with_the_owner_as_sni() -> None:
    result = read_zone(SAMPLE, origin="", ports=[443, 8443], label=LABEL)
    api = [t for t in result.targets if t.host == "api.example.com"]
    assert {t.port for t in api} == {443, 8443}
    assert all(t.addresses == ("127.0.0.21", "::1") and t.sni == "api.example.com" for t in api)
    assert all(t.source == LABEL for t in result.targets)
    assert all(t.protocol is Protocol.TLS for t in api)


def test_cnames_are_followed_inside_the_zone_and_resolved_outside_it() -> None:
    targets = _by_host_port()
    www = targets[("www.example.com", 443)]
    assert www.addresses == ("127.0.0.21",) and www.sni == "www.example.com"  # type: ignore[attr-defined]
    shop = targets[("shop.example.com", 443)]
    assert shop.addresses == () and shop.resolve_name == "shops.example.net"  # type: ignore[attr-defined]
    assert shop.sni == "shop.example.com"  # type: ignore[attr-defined]


def test_include_with_its_own_origin_and_the_origin_restored_after_it() -> None:
    targets = _by_host_port()
    # RFC 1035 section 5.1: `$INCLUDE file origin` names the origin for that file only.
    assert targets[("grafana.internal.example.com", 443)].addresses == ("127.0.0.26",)  # type: ignore[attr-defined]
    assert ("vault.internal.example.com", 443) in targets
    assert targets[("status.example.com", 443)].addresses == ("127.0.0.25",)  # type: ignore[attr-defined]


def test_an_idn_owner_is_probed_by_its_a_label() -> None:
    assert ("xn--bcher-kva.example.com", 443) in _by_host_port()


def test_srv_records_of_tls_services_give_target_port_and_starttls() -> None:
    result = read_zone(SAMPLE, origin="", ports=[443], label=LABEL)
    srv = {(t.host, t.port): t.protocol for t in result.targets if t.port != 443}
    assert srv == {
        ("app.example.com", 8443): Protocol.TLS,  # _https._tcp
        ("mail.example.com", 587): Protocol.SMTP,  # _submission._tcp: STARTTLS (RFC 6186)
    }
    # `_imaps._tcp ... .` is "decidedly not available" (RFC 2782); _xmpp-client is not known TLS.


def test_wildcards_and_dangling_cnames_are_reported_not_probed() -> None:
    result = read_zone(SAMPLE, origin="", ports=[443], label=LABEL)
    skipped = {item.name: item.reason for item in result.skipped}
    assert set(skipped) == {"*.preview.example.com", "dangling.example.com"}
    assert "wildcard" in skipped["*.preview.example.com"]
    assert "gone.example.com" in skipped["dangling.example.com"]
    hosts = {t.host for t in result.targets}
    assert not any(host.startswith("*") or host == "dangling.example.com" for host in hosts)


def test_relative_names_take_the_configured_origin_when_the_file_has_none(tmp_path: Path) -> None:
    zone = tmp_path / "db.fragment"
    zone.write_text("$TTL 60\nweb IN A 127.0.0.5\nmail.other.test. IN A 127.0.0.6\n")
    result = read_zone(zone, origin="example.net", ports=[443], label="zone:x")
    # Out-of-zone data is no part of the zone: BIND ignores it ("ignoring out-of-zone data").
    assert {t.host for t in result.targets} == {"web.example.net"}


def test_a_loop_of_cnames_is_reported(tmp_path: Path) -> None:
    zone = tmp_path / "db.loop"
    zone.write_text("$TTL 60\n$ORIGIN loop.test.\na IN CNAME b\nb IN CNAME a\n")
    result = read_zone(zone, origin="", ports=[443], label="zone:x")
    assert result.targets == []
    assert all("CNAME loop" in item.reason for item in result.skipped)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$ORIGIN example.com.\napp IN A 127.0.0.1\nweb IN A nonsense\n", ":3:"),
        ("web IN A 127.0.0.1\n", "no $ORIGIN in the file and no origin configured"),
        ("$ORIGIN example.com.\n$INCLUDE missing.db\n", "$INCLUDE missing.db: file not found"),
    ],
    ids=["syntax", "no-origin", "include-missing"],
)
def test_a_zone_that_cannot_be_read_is_an_error_naming_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    zone = tmp_path / "db.broken"
    zone.write_text(text)
    with pytest.raises(SourceError) as raised:
        read_zone(zone, origin="", ports=[443], label="zone:x")
    message = str(raised.value)
    assert str(zone) in message and expected in message
    assert "\n" not in message


def test_a_missing_zone_is_an_error_never_an_empty_zone(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="file not found"):
        read_zone(tmp_path / "db.gone", origin="", ports=[443], label="zone:x")


TRICKY = """$TTL 1h
$ORIGIN Example.COM.
@ IN SOA ( ns1 hostmaster ; a comment inside ( the parentheses
           1 2 3 4 5 )
multi    IN A ( 127.0.0.7 ) ; one record over parentheses
spread   3600 IN ( AAAA
                   ::2 )
classfirst IN 300 A 127.0.0.8
ttlfirst 300 IN A 127.0.0.9
 IN AAAA ::9
esc\\.aped IN A 127.0.0.10
txt      IN TXT "an ( unbalanced \\" quote; not a comment"
after    IN A 127.0.0.11
bücher   IN A 127.0.0.13
$ORIGIN sub
rel      IN CNAME after.example.com.
srv      IN SRV 1 2 993 rel
$GENERATE 1-3 gen$ A 127.0.1.$
"""


@pytest.mark.parametrize("generate", [False, True], ids=["streamed", "generate"])
def test_the_streaming_reader_agrees_with_dnspythons_full_parser(
    tmp_path: Path, generate: bool
) -> None:
    from ticketbridge.sources.masterfile import MasterFileReader
    from ticketbridge.sources.zone import _zone_records

    text = TRICKY if generate else TRICKY.replace("$GENERATE", "; $GENERATE")
    zone = tmp_path / "db.tricky"
    zone.write_text(text, encoding="utf-8")
    for path in (SAMPLE, zone):
        full, full_origin = _zone_records(path.absolute(), "")
        if "$GENERATE 1" in path.read_text(encoding="utf-8"):
            continue  # read by the full parser itself (see below)
        streamed, origin = MasterFileReader(path.absolute(), "").read()
        assert origin == full_origin
        assert streamed == full
    result = read_zone(zone, origin="", ports=[443], label="zone:x")
    hosts = {t.host for t in result.targets}
    assert {"multi.example.com", "xn--bcher-kva.example.com", "esc\\.aped.example.com"} <= hosts
    assert ("gen2.sub.example.com" in hosts) is generate


def test_an_error_inside_an_included_file_names_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "db.main").write_text("$ORIGIN example.com.\n$TTL 60\n$INCLUDE db.part\n")
    (tmp_path / "db.part").write_text("ok IN A 127.0.0.1\nbad IN AAAA 127.0.0.1\n")
    with pytest.raises(SourceError) as raised:
        read_zone(tmp_path / "db.main", origin="", ports=[443], label="zone:x")
    assert str(raised.value).startswith(f"{tmp_path / 'db.part'}:2: ")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ("web IN AAAAA ::1", "unknown record type 'AAAAA'"),
        ("web CH A 127.0.0.1", "RR class CH is not the zone's class IN"),
        ("web IN SRV 1 2 https target", "an SRV record is: priority weight port target"),
        ("web IN CNAME a b", "a CNAME record has one target name"),
    ],
)
def test_a_record_that_cannot_be_read_is_an_error(
    tmp_path: Path, record: str, expected: str
) -> None:
    (tmp_path / "db.x").write_text(f"$ORIGIN example.com.\n$TTL 60\n{record}\n")
    with pytest.raises(SourceError) as raised:
        read_zone(tmp_path / "db.x", origin="", ports=[443], label="zone:x")
    assert str(raised.value) == f"{tmp_path / 'db.x'}:3: {expected}"


_LABELS = st.sampled_from(["www", "api", "Mail", "a-b", "x1", "_https._tcp", "deep.er", "*"])
_ADDRESSES = st.sampled_from(["127.0.0.1", "10.1.2.3", "192.0.2.55"])
_RECORDS = st.one_of(
    st.tuples(st.just("A"), _ADDRESSES),
    st.tuples(st.just("AAAA"), st.sampled_from(["::1", "2001:db8::7"])),
    st.tuples(
        st.just("SRV"), st.sampled_from(["0 0 443 www", "1 2 8443 api.example.com.", "0 0 0 ."])
    ),
    st.tuples(st.just("TXT"), st.sampled_from(['"v=spf1 -all"', '( "a" "b;c" )'])),
    st.tuples(st.just("MX"), st.sampled_from(["10 mail", "20 (\n  mx.example.net. )"])),
)
_PREFIXES = st.sampled_from(["", "300 ", "IN ", "300 IN ", "IN 300 ", "1h30m IN "])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(_LABELS, _PREFIXES, _RECORDS, st.booleans(), st.booleans()),
        min_size=1,
        max_size=25,
    )
)
def test_the_streaming_reader_agrees_with_dnspython_on_generated_zones(
    tmp_path: Path,
    lines: list[tuple[str, str, tuple[str, str], bool, bool]],
) -> None:
    from ticketbridge.sources.masterfile import MasterFileReader
    from ticketbridge.sources.zone import _zone_records

    text = ["$TTL 60", "$ORIGIN example.com."]
    cnames: set[str] = set()
    typed: dict[str, set[str]] = {}
    for label, prefix, (kind, rdata), repeat_owner, comment in lines:
        if label in cnames or (kind == "CNAME" and label in typed):
            continue  # RFC 1034: a CNAME owner has no other data; both parsers refuse it
        typed.setdefault(label, set()).add(kind)
        owner = " " if repeat_owner and len(text) > 2 else label
        if owner == " ":
            continue  # the owner of the line before is not known here: keep lines self-owned
        text.append(f"{owner} {prefix}{kind} {rdata}" + (" ; note (" if comment else ""))
    zone = tmp_path / "db.generated"
    zone.write_text("\n".join(text) + "\n", encoding="utf-8")
    full, full_origin = _zone_records(zone.absolute(), "")
    streamed, origin = MasterFileReader(zone.absolute(), "").read()
    assert origin == full_origin
    assert _normal(streamed) == _normal(full)


def _normal(records: Records) -> dict[str, tuple[list[str], str | None, list[tuple[int, str]]]]:
    # The order of one name's addresses is no part of a zone (an RRset is a set; RFC 2181 5).
    return {
        name: (sorted(entry.addresses), entry.cname, sorted(entry.services))
        for name, entry in records.items()
    }
