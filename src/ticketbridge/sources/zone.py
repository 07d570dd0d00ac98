"""`[[sources.zone]]`: an RFC 1035 master file (as BIND keeps it), read with dnspython, to
endpoints probed at the addresses the zone itself gives."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone

from ticketbridge.sources.base import SourceError, SourceResult, read_source_text
from ticketbridge.sources.masterfile import MasterFileReader, NeedsFullParser
from ticketbridge.sources.records import OwnerRecords, Records, endpoints_from_records

_WANTED = frozenset({dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, dns.rdatatype.SRV})


def read_zone(path: Path, *, origin: str, ports: Sequence[int], label: str) -> SourceResult:
    """The endpoints of one master file; a missing or broken file is a SourceError naming the
    file and line, never an empty zone."""
    path = path.absolute()
    try:
        records, zone = MasterFileReader(path, origin).read()
    except NeedsFullParser:
        # $GENERATE (a BIND extension): dnspython's full parser expands it, at its own pace.
        records, zone = _zone_records(path, origin)
    return endpoints_from_records(records, zone, ports, label)


def _zone_records(path: Path, origin: str) -> tuple[Records, str]:
    text = read_source_text(path)
    try:
        # RFC 1035 section 5.1 leaves the base of a relative $INCLUDE to the implementation;
        # BIND resolves it from named's working directory (`directory`), named-checkzone from
        # its -w directory. Here that directory is the zone file's own, so the config's
        # location, not cron's working directory, decides what is read.
        with contextlib.chdir(path.parent):
            zone = dns.zone.from_text(
                text,
                origin=origin or None,
                relativize=False,
                filename=str(path),
                allow_include=True,
                # A fragment kept for $INCLUDE, or a zone without its SOA in git, still lists
                # names; named-checkzone is the tool that judges a zone's completeness.
                check_origin=False,
            )
    except dns.zone.UnknownOrigin:
        raise SourceError(
            f"{path}: no $ORIGIN in the file and no origin configured (sources.zone origin)"
        ) from None
    except dns.exception.DNSException as exc:
        # dnspython's syntax errors read `file:line: problem`, the included file's when it
        # was one.
        message = str(exc) or type(exc).__name__
        raise SourceError(
            message if message.startswith(str(path)) else f"{path}: {message}"
        ) from None
    except OSError as exc:
        name = exc.filename or ""
        raise SourceError(f"{path}: $INCLUDE {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: an included file is not UTF-8 text: {exc.reason}") from None
    assert zone.origin is not None  # from_text sets it or raises UnknownOrigin
    return _records_of(zone), _text(zone.origin)


def _records_of(zone: dns.zone.Zone) -> Records:
    records: Records = {}
    for name, node in zone.nodes.items():
        entry: OwnerRecords | None = None
        for rdataset in node.rdatasets:
            if rdataset.rdclass != dns.rdataclass.IN or rdataset.rdtype not in _WANTED:
                continue
            entry = entry or OwnerRecords()
            _add(entry, rdataset)
        if entry is not None:
            records[_text(name)] = entry
    return records


def _add(entry: OwnerRecords, rdataset: dns.rdataset.Rdataset) -> None:
    kind = rdataset.rdtype
    for rdata in rdataset:
        if kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
            if rdata.address not in entry.addresses:
                entry.addresses.append(rdata.address)
        elif kind == dns.rdatatype.CNAME:
            entry.cname = _text(rdata.target)
        else:
            target = "" if rdata.target == dns.name.root else _text(rdata.target)
            if (int(rdata.port), target) not in entry.services:
                entry.services.append((int(rdata.port), target))


def _text(name: dns.name.Name) -> str:
    # Owner names as they go on the wire and into SNI: A-labels (an IDN owner is its xn-- form),
    # lower case, no final dot.
    return name.to_text(omit_final_dot=True).lower()
