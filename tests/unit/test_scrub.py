"""The scrubber and the one-line form of outside text, on the shapes the hostile tests found."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import sys

import pytest

from ticketbridge.app import logs
from ticketbridge.infra.scrub import (
    REDACTED,
    Scrubber,
    one_line,
    outside_detail,
    register_secret,
)

TOKEN = "ATATT3xFfGF0Zk9sQmVyVG9rZW4tMTIzNDU2Nzg5MA"


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber([TOKEN])


@pytest.mark.parametrize(
    "text",
    [
        f"token {TOKEN} leaked",
        f"token {TOKEN.lower()} leaked",  # a server that lower-cases what it echoes
        f"token {TOKEN.upper()} leaked",
        f"error body: Authorization: Bearer {TOKEN}",
    ],
)
def test_a_registered_secret_is_gone_in_any_case(scrubber: Scrubber, text: str) -> None:
    cleaned = scrubber.scrub(text)
    assert TOKEN.lower() not in cleaned.lower()
    assert REDACTED in cleaned


def test_the_basic_auth_form_of_a_token_is_gone() -> None:
    scrubber = Scrubber()
    scrubber.register(TOKEN, user="ops@example.com")
    basic = base64.b64encode(f"ops@example.com:{TOKEN}".encode()).decode()
    assert basic not in scrubber.scrub(f"echo: {basic}")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # Echoed request headers, as text, JSON and a Python dict repr (RFC 9110 §11.6.2).
        ("Authorization: Basic dXNlcjpodW50ZXIy\r\nHost: x", "dXNlcjpodW50ZXIy"),
        ('{"headers": {"authorization": "Bearer abc.def.ghi-123"}}', "abc.def.ghi-123"),
        ("{'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0'}", "cHJveHk6c2VjcmV0"),
        ("AUTHORIZATION=GenieKey 0f1e2d3c-aaaa", "0f1e2d3c-aaaa"),
        ("the body quoted bearer eyJhbGciOiJIUzI1NiJ9.e30.sig back", "eyJhbGciOiJIUzI1NiJ9"),
        # RFC 3986 §3.2.1 userinfo, in any scheme.
        ("retrying https://bot:hunter2pass@jira.example.com/rest/api/3", "hunter2pass"),
        ("GET http://admin@10.0.0.1:8080/x failed", "admin"),
    ],
)
def test_unregistered_credentials_are_recognised_by_shape(text: str, secret: str) -> None:
    cleaned = Scrubber().scrub(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_text_without_credentials_is_unchanged_line_for_line() -> None:
    text = "Traceback (most recent call last):\n  File 'x.py', line 3\nValueError: a@b c:d"
    assert Scrubber([TOKEN]).scrub(text) == text
    assert Scrubber().scrub("https://jira.example.com/browse/OPS-1") == (
        "https://jira.example.com/browse/OPS-1"
    )


def test_short_values_are_not_registered() -> None:
    # A one-letter "secret" would redact every such letter; real credentials are long.
    assert Scrubber(["abc"]).scrub("abc") == "abc"


def test_a_huge_html_error_with_ansi_escapes_is_one_short_inert_line() -> None:
    body = ("<html>\r\n<body>\x1b[31mBad Gateway\x1b[0m\u202e\n" * 30_000).encode() + b"\xff"
    assert len(body) > 1_000_000
    detail = outside_detail(body)
    assert len(detail) <= 200
    assert "\n" not in detail and "\r" not in detail
    assert "\x1b" not in detail and "\u202e" not in detail
    assert "\\x1b[31mBad Gateway" in detail  # visible, not interpreted
    assert detail.endswith("…")


def test_one_line_keeps_short_text_and_collapses_whitespace() -> None:
    assert one_line("  rate\tlimited\n\n  try later ") == "rate limited try later"
    assert one_line("x" * 200) == "x" * 200
    assert len(one_line("x" * 201)) == 200


def test_a_secret_is_scrubbed_before_the_detail_is_cut() -> None:
    register_secret(TOKEN)
    detail = outside_detail("x" * 190 + TOKEN)
    assert TOKEN[:8] not in detail


def _log_through_handler(json_format: bool, capsys: pytest.CaptureFixture[str]) -> str:
    logs.configure_logging(debug=True, json_format=json_format)
    token = "tbtest" + secrets.token_hex(12)
    register_secret(token, user="ops@example.com")
    log = logging.getLogger("ticketbridge.test")
    try:
        try:
            raise ValueError(f"server said: Authorization: Bearer {token.upper()}")
        except ValueError as inner:
            raise RuntimeError(f"https://ops:{token}@jira.example.com failed") from inner
    except RuntimeError:
        log.exception("retrying https://ops:pw-%s@jira.example.com", token.lower())
    err = capsys.readouterr().err
    assert err
    assert token not in err.lower()
    assert "pw-" not in err
    return err


def test_text_logs_scrub_messages_and_chained_tracebacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _log_through_handler(False, capsys)
    assert "The above exception was the direct cause" in err  # the traceback is still there


def test_json_logs_scrub_messages_and_tracebacks(capsys: pytest.CaptureFixture[str]) -> None:
    err = _log_through_handler(True, capsys)
    assert "exception" in json.loads(err)


def test_debug_tracebacks_printed_by_the_interpreter_are_scrubbed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.configure_logging(debug=True, json_format=False)
    token = "tbtest" + secrets.token_hex(12)
    register_secret(token)
    try:
        try:
            raise OSError(f"echo {{'authorization': 'Bearer {token}'}}")
        except OSError as inner:
            raise RuntimeError(f"lower {token.lower()}") from inner
    except RuntimeError:
        sys.excepthook(*sys.exc_info())  # what the interpreter calls on an uncaught exception
    err = capsys.readouterr().err
    assert "OSError" in err and "RuntimeError" in err
    assert token not in err.lower()


def test_text_logs_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure_logging(debug=True, json_format=False)
    logging.getLogger("ticketbridge.test").warning("server said \x1b[2J\x1b[31mhello")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\\x1b[2J" in err


def test_json_log_extras_are_scrubbed_however_nested(capsys: pytest.CaptureFixture[str]) -> None:
    logs.configure_logging(debug=True, json_format=True)
    token = "tbtest" + secrets.token_hex(12)
    register_secret(token)
    extra = {"request": {"headers": [f"x {token}"], "url": "https://u:pw-x@h/"}}
    logging.getLogger("ticketbridge.test").warning("sent", extra=extra)
    document = json.loads(capsys.readouterr().err)
    assert token not in json.dumps(document) and "pw-x" not in json.dumps(document)
    assert document["request"]["headers"] == ["x [redacted]"]
