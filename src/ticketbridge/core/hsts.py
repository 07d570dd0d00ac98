"""HTTP Strict Transport Security as served: the `HEAD /` response head parsed per RFC 6797.

Pure: the discovery layer sends the request and hands the response head (bytes) here. What a
browser would make of the header is what we report, so the rules are the RFC's user-agent
rules, cited section by section (RFC 6797, https://www.rfc-editor.org/rfc/rfc6797).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STS_HEADER = "strict-transport-security"

# RFC 2616 section 2.2 (the grammar RFC 6797 section 6.1 builds on): a token is 1*<any CHAR
# except CTLs or separators>.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 2616 section 3.3.2: delta-seconds = 1*DIGIT.
_DELTA_SECONDS = re.compile(r"[0-9]+")
_STATUS_LINE = re.compile(r"HTTP/\d\.\d ([0-9]{3})(?: .*)?")
# A max-age beyond any clock is reported capped, so it still fits a signed 64-bit integer.
_MAX_AGE_CAP = 2**63 - 1


@dataclass(frozen=True, slots=True)
class HstsError:
    """Why there is no HSTS answer: `timeout`, `reset`, `protocol`, `tls`, `too_large`, or
    `invalid` (a header a browser must ignore, RFC 6797 section 6.1 item 4)."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Hsts:
    """SPEC's `hsts` object: the policy a browser would take from this endpoint, or why none."""

    present: bool
    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False
    status: int | None = None
    error: HstsError | None = None

    def below(self, minimum: int) -> bool:
        """No usable policy, or one shorter than `minimum` seconds (`[policy] hsts_min_max_age`)."""
        return self.max_age is None or self.max_age < minimum


class InvalidSts(ValueError):
    """A Strict-Transport-Security value a user agent must ignore (RFC 6797 section 6.1)."""


@dataclass(frozen=True, slots=True)
class StsPolicy:
    max_age: int
    include_subdomains: bool
    preload: bool


def _directive_value(text: str, name: str) -> str:
    """A token or a quoted-string (RFC 6797 section 6.1: directive-value = token | quoted-string)."""
    if text.startswith('"'):
        if len(text) < 2 or not text.endswith('"'):
            raise InvalidSts(f"{name}: unterminated quoted-string")
        inner, index = text[1:-1], 0
        value: list[str] = []
        while index < len(inner):
            char = inner[index]
            if char == "\\":  # quoted-pair = "\" CHAR (RFC 2616 section 2.2)
                if index + 1 == len(inner):
                    raise InvalidSts(f"{name}: dangling backslash in quoted-string")
                value.append(inner[index + 1])
                index += 2
                continue
            if char == '"' or (ord(char) < 32 and char != "\t") or ord(char) == 127:
                raise InvalidSts(f"{name}: invalid character in quoted-string")
            value.append(char)
            index += 1
        return "".join(value)
    if not _TOKEN.fullmatch(text):
        raise InvalidSts(f"{name}: value {text!r} is neither a token nor a quoted-string")
    return text


def _split_directives(value: str) -> list[str]:
    """Split on `;` outside quoted-strings (a quoted value may contain one)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def parse_sts(value: str) -> StsPolicy:
    """One Strict-Transport-Security field value, or InvalidSts saying why a UA ignores it.

    RFC 6797 section 6.1: `[ directive ] *( ";" [ directive ] )`, with implied linear white
    space; directive names are case-insensitive (item 3); every directive appears at most once
    (item 2); unknown directives are ignored (item 5) but must still be well-formed (item 4).
    Section 6.1.1: max-age is REQUIRED, delta-seconds, optionally quoted (section 6.2's third
    example). Section 6.1.2: includeSubDomains is valueless. `preload` is not in the RFC: it is
    the hstspreload.org submission requirement, reported as seen, valueless like its peers.
    """
    seen: dict[str, str | None] = {}
    for raw in _split_directives(value):
        directive = raw.strip(" \t")
        if not directive:
            continue  # `[ directive ]`: empty directives between semicolons are allowed
        name, equals, rest = directive.partition("=")
        name = name.strip(" \t")
        if not _TOKEN.fullmatch(name):
            raise InvalidSts(f"directive name {name!r} is not a token")
        key = name.lower()
        if key in seen:
            raise InvalidSts(f"directive {key} appears more than once")
        seen[key] = _directive_value(rest.strip(" \t"), key) if equals else None
    if "max-age" not in seen:
        raise InvalidSts("max-age is missing (it is REQUIRED)")
    max_age = seen["max-age"]
    if max_age is None or not _DELTA_SECONDS.fullmatch(max_age):
        raise InvalidSts(f"max-age {max_age!r} is not delta-seconds")
    for valueless in ("includesubdomains", "preload"):
        if seen.get(valueless) is not None:
            raise InvalidSts(f"{valueless} takes no value")
    return StsPolicy(
        max_age=min(int(max_age), _MAX_AGE_CAP),
        include_subdomains="includesubdomains" in seen,
        preload="preload" in seen,
    )


def _header_lines(head: str) -> list[str]:
    """Header lines with obsolete line folding unfolded (RFC 7230 section 3.2.4: a recipient
    may replace each obs-fold with a space)."""
    lines: list[str] = []
    for line in head.replace("\r\n", "\n").split("\n")[1:]:
        if line[:1] in (" ", "\t") and lines:
            lines[-1] += " " + line.strip(" \t")
        elif line:
            lines.append(line)
    return lines


def hsts_from_head(head: bytes) -> Hsts:
    """The HSTS answer of one HTTP/1.x response head (status line and header fields).

    RFC 6797 section 8.1: a UA that receives more than one STS header field processes only the
    first; so does this. A header a UA must ignore is reported present, with `invalid`.
    """
    text = head.decode("latin-1")
    status_line = text.split("\n", 1)[0].rstrip("\r")
    matched = _STATUS_LINE.fullmatch(status_line)
    if matched is None:
        return Hsts(
            present=False,
            error=HstsError("protocol", f"not an HTTP response: {status_line[:80]!r}"),
        )
    status = int(matched.group(1))
    values = [
        value.strip(" \t")
        for name, colon, value in (line.partition(":") for line in _header_lines(text))
        if colon and name.strip(" \t").lower() == STS_HEADER
    ]
    if not values:
        return Hsts(present=False, status=status)
    try:
        policy = parse_sts(values[0])
    except InvalidSts as exc:
        return Hsts(present=True, status=status, error=HstsError("invalid", str(exc)))
    return Hsts(
        present=True,
        max_age=policy.max_age,
        include_subdomains=policy.include_subdomains,
        preload=policy.preload,
        status=status,
    )


def host_header(name: str, port: int) -> str:
    """The `Host` value (RFC 9110 section 7.2): the name, bracketed if an IPv6 literal, and the
    port unless it is 443, the https default."""
    authority = f"[{name}]" if ":" in name else name
    return authority if port == 443 else f"{authority}:{port}"


def head_request(authority: str) -> bytes:
    """`HEAD /` with `Host` (RFC 9110 section 9.3.2): the headers of `GET /`, no body to read.
    Only visible ASCII reaches the request line: a configured name cannot inject a header."""
    safe = "".join(char for char in authority if 32 < ord(char) < 127)
    return (
        f"HEAD / HTTP/1.1\r\nHost: {safe}\r\nUser-Agent: ticketbridge\r\n"
        "Accept: */*\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
