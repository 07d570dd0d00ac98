"""The Strict-Transport-Security parser against RFC 6797's own examples and its rules.

Each case cites the section of RFC 6797 (https://www.rfc-editor.org/rfc/rfc6797) it comes from.
"""

from __future__ import annotations

import pytest

from ticketbridge.core.hsts import (
    Hsts,
    HstsError,
    InvalidSts,
    StsPolicy,
    head_request,
    host_header,
    hsts_from_head,
    parse_sts,
)


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        # Section 6.2, the five examples, in order.
        ("max-age=31536000", StsPolicy(31536000, False, False)),
        ("max-age=15768000 ; includeSubDomains", StsPolicy(15768000, True, False)),
        ('max-age="31536000"', StsPolicy(31536000, False, False)),
        ("max-age=0", StsPolicy(0, False, False)),
        ("max-age=0; includeSubDomains", StsPolicy(0, True, False)),
        # Section 6.1 item 1: order is not significant; item 3: names are case-insensitive.
        ("includeSubDomains; MAX-AGE=60", StsPolicy(60, True, False)),
        ('PRELOAD ; IncludeSubdomains;Max-Age="60"', StsPolicy(60, True, True)),
        # Section 6.1's grammar: `[ directive ] *( ";" [ directive ] )` allows empty directives.
        (";max-age=60;;", StsPolicy(60, False, False)),
        # Section 6.1 item 5: unknown directives are ignored, with or without a value.
        ('max-age=60; report-uri="https://r.example/;x"; future', StsPolicy(60, False, False)),
        # A quoted-pair inside a quoted-string (RFC 2616 section 2.2).
        ('max-age=60; ext="a\\"b"', StsPolicy(60, False, False)),
        ("max-age=99999999999999999999999", StsPolicy(2**63 - 1, False, False)),
    ],
)
def test_valid_headers(value: str, policy: StsPolicy) -> None:
    assert parse_sts(value) == policy


@pytest.mark.parametrize(
    ("value", "why"),
    [
        # Section 6.1 item 2: every directive at most once.
        ("max-age=60; max-age=120", "more than once"),
        ("max-age=60; includeSubDomains; INCLUDESUBDOMAINS", "more than once"),
        # Section 6.1.1: max-age is REQUIRED, and delta-seconds.
        ("includeSubDomains", "max-age is missing"),
        ("", "max-age is missing"),
        ("max-age", "not delta-seconds"),
        ("max-age=-1", "not delta-seconds"),
        ("max-age=1y", "not delta-seconds"),
        ('max-age=""', "not delta-seconds"),
        # Section 6.1 item 4: anything not in the grammar makes the header ignored.
        ('max-age="60', "unterminated"),
        ("max-age=60 120", "neither a token nor a quoted-string"),
        ('"max-age"=60', "not a token"),
        ("max-age=60, includeSubDomains", "neither a token"),
        # Section 6.1.2: includeSubDomains is valueless (and so is hstspreload.org's preload).
        ("max-age=60; includeSubDomains=yes", "takes no value"),
        ("max-age=60; preload=1", "takes no value"),
    ],
)
def test_headers_a_user_agent_must_ignore(value: str, why: str) -> None:
    with pytest.raises(InvalidSts, match=why):
        parse_sts(value)


def head(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def test_the_first_of_several_headers_is_the_one_processed() -> None:
    """Section 8.1: a UA receiving more than one STS header field processes only the first."""
    answer = hsts_from_head(
        head(
            "HTTP/1.1 200 OK",
            "strict-transport-security: max-age=60",
            "Strict-Transport-Security: max-age=31536000; includeSubDomains",
        )
    )
    assert answer == Hsts(present=True, max_age=60, status=200)
    invalid_first = hsts_from_head(
        head(
            "HTTP/1.1 200 OK",
            "Strict-Transport-Security: max-age=oops",
            "Strict-Transport-Security: max-age=31536000",
        )
    )
    assert invalid_first.present and invalid_first.max_age is None
    assert invalid_first.error is not None and invalid_first.error.kind == "invalid"


def test_a_response_without_the_header_and_a_folded_one() -> None:
    assert hsts_from_head(head("HTTP/1.0 302 Found", "Location: /x")) == Hsts(
        present=False, status=302
    )
    folded = hsts_from_head(
        head("HTTP/1.1 200 OK", "Strict-Transport-Security: max-age=60;", "\tincludeSubDomains")
    )
    assert folded == Hsts(present=True, max_age=60, include_subdomains=True, status=200)
    bare_lf = hsts_from_head(b"HTTP/1.1 204 No Content\nStrict-Transport-Security: max-age=5\n\n")
    assert bare_lf == Hsts(present=True, max_age=5, status=204)


def test_not_an_http_response() -> None:
    answer = hsts_from_head(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
    assert answer.present is False and answer.status is None
    assert answer.error == HstsError("protocol", "not an HTTP response: 'SSH-2.0-OpenSSH_9.2'")


def test_below_a_minimum() -> None:
    assert Hsts(present=True, max_age=60).below(61)
    assert not Hsts(present=True, max_age=61).below(61)
    assert Hsts(present=False).below(1)


def test_the_request_names_the_virtual_host() -> None:
    assert host_header("app.example.com", 443) == "app.example.com"
    assert host_header("app.example.com", 8443) == "app.example.com:8443"
    assert host_header("2001:db8::1", 443) == "[2001:db8::1]"
    request = head_request("evil.example.com\r\nX-Injected: 1")
    assert request == (
        b"HEAD / HTTP/1.1\r\nHost: evil.example.comX-Injected:1\r\nUser-Agent: ticketbridge\r\n"
        b"Accept: */*\r\nConnection: close\r\n\r\n"
    )
