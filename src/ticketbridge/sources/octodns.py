"""`[[sources.octodns]]`: octoDNS YamlProvider zone files (`<zone>.yaml`, one per zone, as its
users keep them in git) to endpoints, through the same record rules as a master file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ticketbridge.sources.base import SourceError, SourceResult
from ticketbridge.sources.records import OwnerRecords, Records, endpoints_from_records
from ticketbridge.sources.yamlfile import line_of, load_documents

# The format, from octoDNS's docs/records.md ("Config (YamlProvider)", github.com/octodns/
# octodns): each top-level key is a record name relative to the zone, `''` the zone apex and
# `'*'` a wildcard; its value is one record or a list of records (several types on one name);
# a record has a `type` and a `value` or a list of `values`. Names in values (CNAME, ALIAS,
# SRV targets) are fully qualified with a trailing dot, which octoDNS's validation requires.
# The zone is the file's name: YamlProvider reads `<directory>/<zone>.yaml`.
_ADDRESS_TYPES = frozenset({"A", "AAAA"})
_ALIAS_TYPES = frozenset({"CNAME", "ALIAS"})  # ALIAS: a CNAME at the apex, flattened by providers


def read_octodns(path: Path, *, zone: str, ports: Sequence[int], label: str) -> SourceResult:
    """The endpoints of one octoDNS zone file; a broken file names the file and line."""
    zone_name = (zone or _zone_from_file_name(path)).rstrip(".").lower()
    documents = load_documents(path)
    if len(documents) != 1 or not isinstance(documents[0], dict):
        raise SourceError(f"{path}: an octoDNS zone file is one mapping of record names")
    records: Records = {}
    for name, value in documents[0].items():
        owner = _owner(str(name), zone_name)
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            _add_record(path, owner, entry, records)
    return endpoints_from_records(records, zone_name, ports, label)


def _zone_from_file_name(path: Path) -> str:
    name = path.name
    for suffix in (".yaml", ".yml"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _owner(name: str, zone: str) -> str:
    return zone if name == "" else f"{name.lower()}.{zone}"


def _add_record(path: Path, owner: str, record: Any, records: Records) -> None:
    if not isinstance(record, dict) or not isinstance(record.get("type"), str):
        raise SourceError(f"{path}: {line_of(record)}{owner}: a record needs a `type`")
    kind = record["type"].upper()
    if kind not in _ADDRESS_TYPES | _ALIAS_TYPES | {"SRV"}:
        return
    values = _values(path, owner, record)
    entry = records.setdefault(owner, OwnerRecords())
    if kind in _ADDRESS_TYPES:
        entry.addresses.extend(str(value) for value in values)
    elif kind in _ALIAS_TYPES:
        entry.cname = _fqdn(path, owner, record, values[0])
    else:
        for value in values:
            entry.services.append(_service(path, owner, record, value))


def _values(path: Path, owner: str, record: dict[str, Any]) -> list[Any]:
    if "values" in record and isinstance(record["values"], list) and record["values"]:
        return list(record["values"])
    if "value" in record and record["value"] is not None:
        return [record["value"]]
    raise SourceError(f"{path}: {line_of(record)}{owner}: a {record['type']} record has no value")


def _fqdn(path: Path, owner: str, record: dict[str, Any], value: Any) -> str:
    text = str(value)
    if text == ".":
        return ""
    if not text.endswith("."):
        raise SourceError(
            f"{path}: {line_of(record)}{owner}: {record['type']} value {text!r} "
            "is missing its trailing dot (octoDNS requires a fully qualified name)"
        )
    return text.rstrip(".").lower()


def _service(path: Path, owner: str, record: dict[str, Any], value: Any) -> tuple[int, str]:
    if not isinstance(value, dict) or ("port" in value and not isinstance(value["port"], int)):
        raise SourceError(f"{path}: {line_of(record)}{owner}: an SRV value needs a port and target")
    if "port" not in value or "target" not in value:
        raise SourceError(f"{path}: {line_of(record)}{owner}: an SRV value needs a port and target")
    return int(value["port"]), _fqdn(path, owner, record, value["target"])
