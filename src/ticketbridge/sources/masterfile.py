"""A streaming reader of RFC 1035 master files that keeps only what names endpoints (A, AAAA,
CNAME, SRV), so that a zone of 50,000 owners loads in seconds: plain lines are split as they
are, and only lines with quotes, escapes or parentheses go through dnspython's tokenizer."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import dns.exception
import dns.name
import dns.rdatatype
import dns.tokenizer

from ticketbridge.sources.base import SourceError, read_source_text
from ticketbridge.sources.records import OwnerRecords, Records, in_zone

# $INCLUDE inside $INCLUDE: far beyond any real zone, and an include loop ends here.
MAX_INCLUDE_DEPTH = 16
# RFC 2308 section 4 and BIND: a TTL is seconds, or units (1w2d3h4m5s).
_TTL = re.compile(r"(?i)^(\d+|(\d+[wdhms])+)$")
_CLASSES = frozenset({"IN", "CH", "CS", "HS", "NONE", "ANY"})
_CLASS_NUMBER = re.compile(r"(?i)^CLASS\d+$")
_SPECIAL = frozenset('()"\\')


class ZoneSyntaxError(Exception):
    """A line this reader cannot read; the reader names the file and line."""


class NeedsFullParser(Exception):
    """A directive this reader leaves to dnspython's full zone parser ($GENERATE)."""


@dataclass(frozen=True, slots=True)
class _Line:
    number: int  # where the entry starts (a parenthesised one spans several)
    leading_blank: bool  # no owner: the last one repeats (RFC 1035 section 5.1)
    tokens: list[str]


@dataclass(slots=True)
class _State:
    origin: str | None  # absolute, lower case, no final dot ("" is the root)
    last_owner: str | None = None


class MasterFileReader:
    """RFC 1035 section 5.1 (with RFC 2308's $TTL): `$ORIGIN`, `$INCLUDE <file> [<origin>]`
    (the origin restored after it), `@`, relative names, an omitted owner repeating the last,
    `[<TTL>] [<class>] <type>` in either order. Out-of-zone data is skipped, as BIND skips it.
    Relative $INCLUDE paths are read from the zone file's directory (named-checkzone's -w).
    """

    def __init__(self, path: Path, origin: str) -> None:
        self.path = path
        self.zone: str | None = _absolute(origin, "") if origin else None
        self.records: Records = {}

    def read(self) -> tuple[Records, str]:
        self._read_file(self.path, self.zone, depth=0)
        if self.zone is None:
            raise SourceError(f"{self.path}: no $ORIGIN in the file and no origin configured")
        return self.records, self.zone

    def _read_file(self, path: Path, origin: str | None, depth: int) -> None:
        state = _State(origin)
        for line in _lines(path, read_source_text(path)):
            try:
                self._entry(path, line, state, depth)
            except (ZoneSyntaxError, dns.exception.DNSException) as exc:
                message = str(exc) or type(exc).__name__
                raise SourceError(f"{path}:{line.number}: {message}") from None

    def _entry(self, path: Path, line: _Line, state: _State, depth: int) -> None:
        tokens = line.tokens
        if not line.leading_blank and tokens[0].startswith("$"):
            self._directive(path, line, state, depth)
            return
        if not line.leading_blank:
            if state.origin is None and self.zone is None:
                raise SourceError(
                    f"{self.path}: no $ORIGIN in the file and no origin configured "
                    "(sources.zone origin)"
                )
            state.last_owner = _absolute(tokens[0], _origin(state, self.zone))
            tokens = tokens[1:]
        owner = state.last_owner
        if owner is None:
            raise ZoneSyntaxError("a record without an owner name")
        rdtype, rdclass, rdata = _type_class_rdata(tokens)
        zone = self.zone if self.zone is not None else state.origin
        if rdclass != "IN":
            # A zone has one class (RFC 1035 section 5.2); dnspython and BIND refuse others.
            raise ZoneSyntaxError(f"RR class {rdclass} is not the zone's class IN")
        handler = _WANTED.get(rdtype)
        if handler is None or zone is None or not in_zone(owner, zone):
            return
        handler(rdata, _origin(state, self.zone), self.records.setdefault(owner, OwnerRecords()))

    def _directive(self, path: Path, line: _Line, state: _State, depth: int) -> None:
        name, arguments = line.tokens[0].upper(), line.tokens[1:]
        if name == "$ORIGIN" and len(arguments) == 1:
            # A relative $ORIGIN is relative to the current one (RFC 1035 section 5.1).
            state.origin = _absolute(arguments[0], state.origin)
            self.zone = self.zone if self.zone is not None else state.origin
        elif name == "$TTL" and len(arguments) == 1 and _TTL.match(arguments[0]):
            return
        elif name == "$INCLUDE" and 1 <= len(arguments) <= 2:
            origin = _absolute(arguments[1], state.origin) if len(arguments) == 2 else state.origin
            self._include(path, line, arguments[0], origin, depth)
        elif name == "$GENERATE":
            raise NeedsFullParser(name)
        else:
            raise ZoneSyntaxError(f"bad directive: {' '.join(line.tokens)}")

    def _include(
        self, path: Path, line: _Line, filename: str, origin: str | None, depth: int
    ) -> None:
        if depth >= MAX_INCLUDE_DEPTH:
            raise ZoneSyntaxError(f"$INCLUDE nested more than {MAX_INCLUDE_DEPTH} deep")
        included = Path(filename)
        target = included if included.is_absolute() else self.path.parent / included
        try:
            self._read_file(target, origin, depth + 1)
        except SourceError as exc:
            if str(exc).startswith(f"{target}:") and not str(exc).startswith(f"{target}: "):
                raise  # a problem inside the included file: its own file and line
            reason = str(exc).removeprefix(f"{target}: ")
            raise SourceError(f"{path}:{line.number}: $INCLUDE {filename}: {reason}") from None


def _origin(state: _State, zone: str | None) -> str | None:
    return state.origin if state.origin is not None else zone


def _type_class_rdata(tokens: list[str]) -> tuple[str, str, list[str]]:
    """`[<TTL>] [<class>] <type> <rdata>` or `[<class>] [<TTL>] <type> <rdata>`."""
    rdclass = "IN"
    seen_ttl = seen_class = False
    for index, token in enumerate(tokens):
        if not seen_ttl and _TTL.match(token):
            seen_ttl = True
        elif not seen_class and (token.upper() in _CLASSES or _CLASS_NUMBER.match(token)):
            rdclass, seen_class = token.upper(), True
        else:
            return _known_type(token), rdclass, tokens[index + 1 :]
    raise ZoneSyntaxError("a record without a type")


@lru_cache(maxsize=256)
def _known_type(token: str) -> str:
    # An unknown type is an error, as BIND and dnspython make it (TYPEnnn is known).
    try:
        dns.rdatatype.from_text(token)
    except dns.rdatatype.UnknownRdatatype:
        raise ZoneSyntaxError(f"unknown record type {token!r}") from None
    return token.upper()


def _absolute(text: str, origin: str | None) -> str:
    """A name in the file as an absolute name: lower case, A-labels, no final dot."""
    if text == "@":
        if origin is None:
            raise ZoneSyntaxError("@ with no origin")
        return origin
    if "\\" in text or not text.isascii():
        base = dns.name.from_text(origin) if origin is not None else None
        name = dns.name.from_text(text, base)
        if not name.is_absolute():
            raise ZoneSyntaxError(f"{text}: a relative name with no origin")
        return name.to_text(omit_final_dot=True).lower()
    if text.endswith("."):
        absolute = text[:-1].lower()
    elif origin is None:
        raise ZoneSyntaxError(f"{text}: a relative name with no origin")
    else:
        absolute = f"{text.lower()}.{origin}" if origin else text.lower()
    if any(len(label) > 63 or not label for label in absolute.split(".")) and absolute:
        raise ZoneSyntaxError(f"{text}: not a domain name (RFC 1035 section 2.3.4)")
    return absolute


def _lines(path: Path, text: str) -> Iterator[_Line]:
    """The file's entries, comments gone, a parenthesised entry joined into one."""
    physical = text.splitlines()
    index = 0
    while index < len(physical):
        number, line = index + 1, physical[index]
        index += 1
        if _SPECIAL.isdisjoint(line):
            tokens = line.split(";", 1)[0].split()
        else:
            while _open_parentheses(line) and index < len(physical):
                line += "\n" + physical[index]
                index += 1
            tokens = _tokenized(path, number, line)
        if tokens:
            yield _Line(number, line[:1] in (" ", "\t"), tokens)


def _open_parentheses(text: str) -> bool:
    depth, quoted, escaped, comment = 0, False, False, False
    for character in text:
        if comment:
            comment = character != "\n"  # a comment runs to the end of its line
        elif escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif character == ";":
            comment = True
        elif character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
    return depth > 0


def _tokenized(path: Path, number: int, text: str) -> list[str]:
    """A line with quotes, escapes or parentheses, split by dnspython's tokenizer."""
    tokenizer = dns.tokenizer.Tokenizer(text.lstrip(" \t"), str(path))
    tokens: list[str] = []
    try:
        while True:
            token = tokenizer.get()
            if token.is_eol_or_eof():
                return tokens
            tokens.append(token.value)
    except dns.exception.SyntaxError as exc:
        raise SourceError(f"{path}:{number}: {exc}") from None


_Handler = Callable[[list[str], "str | None", OwnerRecords], None]


def _address(version: int) -> _Handler:
    def read(rdata: list[str], _: str | None, entry: OwnerRecords) -> None:
        try:
            (text,) = rdata
            address = ipaddress.ip_address(text)
        except ValueError:
            address = None
        if address is None or address.version != version:
            raise ZoneSyntaxError(f"{' '.join(rdata)!r} is not one IPv{version} address")
        if str(address) not in entry.addresses:  # a record set holds each datum once
            entry.addresses.append(str(address))

    return read


def _cname(rdata: list[str], origin: str | None, entry: OwnerRecords) -> None:
    if len(rdata) != 1:
        raise ZoneSyntaxError("a CNAME record has one target name")
    entry.cname = _absolute(rdata[0], origin)


def _srv(rdata: list[str], origin: str | None, entry: OwnerRecords) -> None:
    # RFC 2782: priority weight port target; a target of "." means no service.
    if len(rdata) != 4 or not all(part.isdigit() and int(part) < 65536 for part in rdata[:3]):
        raise ZoneSyntaxError("an SRV record is: priority weight port target")
    target = "" if rdata[3] == "." else _absolute(rdata[3], origin)
    if (int(rdata[2]), target) not in entry.services:
        entry.services.append((int(rdata[2]), target))


_WANTED: dict[str, _Handler] = {
    "A": _address(4),
    "AAAA": _address(6),
    "CNAME": _cname,
    "SRV": _srv,
}
