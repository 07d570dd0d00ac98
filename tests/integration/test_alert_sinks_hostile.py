"""On-call sinks against hostile HTTP peers: redirects, slowloris, huge bodies, echoed secrets.

Each answer is written byte for byte (`support.rawhttp`), as RFC 9112 frames it; what counts as
delivered follows PagerDuty's published table (Events API v2 overview, "Response Codes & Retry
Logic": 202 accepted; 400 no retry; 429 and 5xx retry) and RFC 9110 §15.3 (2xx: successful).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from support.pages import TRIGGER
from support.rawhttp import Chunk, RawHttpServer, Script, response
from ticketbridge.alerts import FanOutPager, PagerDutySink, WebhookSink
from ticketbridge.errors import PagerError


def webhook(url: str, *, attempts: int = 3, max_seconds: float = 20.0) -> WebhookSink:
    """A sink with short waits and a 1 s deadline per attempt."""
    return WebhookSink(
        url=url,
        attempts=attempts,
        max_seconds=max_seconds,
        first_wait=0.01,
        timeout=1.0,
        connect_timeout=1.0,
    )


def pagerduty(url: str, routing_key: str) -> PagerDutySink:
    return PagerDutySink(url=url, routing_key=routing_key, attempts=1, first_wait=0.01, timeout=1.0)


def answer(*chunks: bytes | Chunk, close: bool = True) -> Script:
    return Script([c if isinstance(c, Chunk) else Chunk(c) for c in chunks], close=close)


@pytest.fixture
def elsewhere() -> Iterator[RawHttpServer]:
    """A second host a redirect points at: it must never see the page."""
    with RawHttpServer([answer(response(202))], address="127.0.0.10") as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_not_followed(status: int, elsewhere: RawHttpServer) -> None:
    location = f"Location: {elsewhere.url}"
    redirect = answer(response(status, headers=[location]))
    with RawHttpServer([redirect]) as server, pytest.raises(PagerError) as raised:
        webhook(server.url).send(TRIGGER)
    message = str(raised.value)
    assert f"redirect (HTTP {status})" in message and "\n" not in message
    assert server.posts == 1  # refused, not retried
    assert elsewhere.posts == 0  # and not re-sent anywhere


def test_a_2xx_whose_body_trickles_counts_at_once() -> None:
    slow_body = [Chunk(b"x", delay=1.0) for _ in range(30)]
    head = b"HTTP/1.1 202 Accepted\r\nContent-Length: 30\r\n\r\n"
    with RawHttpServer([answer(head, *slow_body)]) as server:
        started = time.monotonic()
        pagerduty(server.url, "R0UTINGKEY").send(TRIGGER)
        assert time.monotonic() - started < 3.0  # the body would take 30 s


@pytest.mark.parametrize(
    "script",
    [
        # headers, then one body byte a second (the slowloris of the issue)
        answer(b"HTTP/1.1 503 Busy\r\nContent-Length: 60\r\n\r\n", *[Chunk(b"x", 1.0)] * 60),
        # the status line itself, a byte a second
        answer(*[Chunk(bytes([b]), 0.5) for b in b"HTTP/1.1 202 Accepted\r\n\r\n"]),
        # accepted the POST, never answers
        answer(close=False),
    ],
    ids=["slow-body", "slow-status-line", "silent"],
)
def test_a_slow_peer_cannot_hold_a_send_past_its_deadline(script: Script) -> None:
    with RawHttpServer([script]) as server:
        sink = webhook(server.url, attempts=2, max_seconds=3.0)
        started = time.monotonic()
        with pytest.raises(PagerError, match=r"not delivered|HTTP 503"):
            sink.send(TRIGGER)
        elapsed = time.monotonic() - started
    # Two attempts of at most `timeout` (1 s) each, and a short pause between them.
    assert elapsed < sink.max_seconds + sink.timeout + 1.5


@pytest.mark.parametrize("status", [100, 103, 204, 299])
def test_only_a_2xx_is_a_delivery(status: int) -> None:
    scripts = [answer(f"HTTP/1.1 {status} X\r\n\r\n".encode())] if status < 200 else []
    scripts.append(answer(response(status)))
    with RawHttpServer(scripts) as server:
        sink = webhook(server.url, attempts=1)
        if 200 <= status < 300:
            sink.send(TRIGGER)
        else:
            with pytest.raises(PagerError):
                sink.send(TRIGGER)


def test_retry_after_is_honoured_and_a_long_one_is_not_waited_for() -> None:
    busy = answer(response(429, headers=["Retry-After: 1"]))
    with RawHttpServer([busy, answer(response(202))]) as server:
        started = time.monotonic()
        webhook(server.url).send(TRIGGER)
        assert time.monotonic() - started >= 1.0
        assert server.posts == 2

    later = answer(response(503, headers=["Retry-After: 3600"]))
    with RawHttpServer([later]) as server:
        started = time.monotonic()
        with pytest.raises(PagerError, match="HTTP 503"):
            webhook(server.url).send(TRIGGER)
        assert time.monotonic() - started < 2.0  # not the 3600 s asked for
        assert server.posts == 1


def test_a_huge_html_error_with_ansi_escapes_is_one_short_line() -> None:
    body = b"<html>\r\n\x1b[2J\x1b[31mBad Gateway\x1b[0m</html>\r\n" * 30_000
    assert len(body) > 1_000_000
    error = answer(response(502, body=body))
    with RawHttpServer([error]) as server, pytest.raises(PagerError) as raised:
        webhook(server.url, attempts=1).send(TRIGGER)
    message = str(raised.value)
    assert "HTTP 502" in message
    assert "\n" not in message and "\r" not in message and "\x1b" not in message
    assert len(message) < 300


def test_credentials_echoed_in_an_error_are_scrubbed() -> None:
    key = "R0UTINGKEYr0utingkey0123456789ab"
    # The server answers 400 with the whole request, lower-cased, as its error body.
    echo = Script([], reply=lambda request: response(400, body=request.lower()))
    with RawHttpServer([echo]) as server:
        sink = pagerduty(server.url, key)
        with pytest.raises(PagerError) as raised:
            FanOutPager([sink]).send(TRIGGER)
    message = str(raised.value)
    assert "HTTP 400" in message and "routing_key" in message  # the echo is there, scrubbed
    assert key.lower() not in message.lower()


def test_userinfo_in_a_sink_url_never_appears_in_errors() -> None:
    sink = webhook("http://hook:pa55word-x@127.0.0.9:1/x", attempts=1)
    with pytest.raises(PagerError) as raised:
        sink.send(TRIGGER)
    assert "pa55word" not in str(raised.value)
