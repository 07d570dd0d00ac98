"""Fuzz-style: random HTTP answers thrown at the alert sinks, from a fixed seed so any failure replays.

The answers are built byte by byte (status lines valid and not, lying `Content-Length`, broken
chunking, redirects, `Retry-After` in every form RFC 9110 §10.2.3 allows and some it does not,
JSON of random shapes, HTML with terminal escapes, trickled and silent peers). Whatever comes
back, a send must: count as delivered only after a 2xx status line (RFC 9110 §15.3), fail
only with a `PagerError` (never another exception, so never a traceback), say so in one short
printable line, and end within its budget.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from support.pages import TRIGGER
from support.rawhttp import Chunk, RawHttpServer, Script
from ticketbridge.alerts import PagerDutySink, WebhookSink
from ticketbridge.alerts.http import HttpSink
from ticketbridge.errors import PagerError

SEED = 20261129
CASES = 72
ROUTING_KEY = "fuzzR0utingKey0123456789abcdefAB"
TIMEOUT = 0.5
MAX_SECONDS = 1.5


@dataclass
class Case:
    index: int
    status_line: bytes
    delivered_possible: bool  # the status line is a well-formed 2xx
    clean_2xx: bool  # a well-formed, prompt 2xx: it must be delivered
    script: Script


def _json_shape(rng: random.Random, depth: int = 0) -> object:
    kinds = ["str", "int", "float", "bool", "null"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return rng.choice(["", "ok", "\x1b[31mred\x1b[0m", "a\nb", "\u202eevil", ROUTING_KEY])
    if kind == "int":
        return rng.choice([0, -1, 202, 2**63, 10**30])
    if kind == "float":
        return rng.choice([0.5, 1e308, -0.0])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [_json_shape(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {
        rng.choice(["status", "message", "errors", "dedup_key", "x"]): _json_shape(rng, depth + 1)
        for _ in range(rng.randint(0, 4))
    }


def _body(rng: random.Random) -> bytes:
    choice = rng.randrange(5)
    if choice == 0:
        return b""
    if choice == 1:
        return json.dumps(_json_shape(rng)).encode()
    if choice == 2:
        return rng.randbytes(rng.randint(1, 3000))
    if choice == 3:
        return b"<html>\x1b[2J\r\n<h1>Bad Gateway</h1>\x07</html>\r\n" * rng.randint(1, 5000)
    return (f'{{"status":"invalid event","routing_key":"{ROUTING_KEY.lower()}"}}').encode()


def _status_line(rng: random.Random) -> tuple[bytes, int | None]:
    """A status line and the status it validly carries (None when it is not valid)."""
    roll = rng.random()
    if roll < 0.3:
        return b"HTTP/1.1 " + rng.choice([b"200 OK", b"202 Accepted", b"204 No Content"]), 202
    if roll < 0.8:
        status = rng.choice(
            [
                *(200, 201, 202, 204, 299, 301, 302, 303, 307, 308, 400, 401, 403, 404, 408, 413),
                *(429, 429, 500, 502, 503, 504, 599, 103, rng.randint(100, 599)),
            ]
        )
        reason = rng.choice(["OK", "", "Accepted", "\x1b[31mBoom", "x" * 500])
        return f"HTTP/1.1 {status} {reason}".encode(), status
    garbage = [
        b"",
        b"HTTP/1.1 abc Nope",
        b"HTTP/1.1 1000 Too Big",
        b"HTTP/1.1 99 Too Small",
        b"ICY 200 OK",
        b"HTTP/9.9 202 Accepted",
        b"\x16\x03\x01\x00\x05hello",
        rng.randbytes(40),
        b"HTTP/1.1 202" + b"A" * 70_000,
    ]
    return rng.choice(garbage), None


def _headers(rng: random.Random, body: bytes) -> list[bytes]:
    headers: list[bytes] = []
    framing = rng.randrange(6)
    if framing == 0:
        headers.append(f"Content-Length: {len(body)}".encode())
    elif framing == 1:
        headers.append(f"Content-Length: {len(body) + rng.randint(1, 10_000)}".encode())
    elif framing == 2:
        headers.append(
            rng.choice([b"Content-Length: -5", b"Content-Length: x", b"Content-Length: 1, 2"])
        )
    elif framing == 3:
        headers.append(b"Transfer-Encoding: chunked")
    if rng.random() < 0.3:
        headers.append(b"Location: http://127.0.0.10:1/elsewhere")
    if rng.random() < 0.4:
        value = rng.choice(
            [
                "0",
                "1",
                "-3",
                "3600",
                "abc",
                "inf",
                "nan",
                "1e308",
                "Sun, 06 Nov 1994 08:49:37 GMT",
                "Wed, 21 Oct 2099 07:28:00 GMT",
                "",
            ]
        )
        headers.append(f"Retry-After: {value}".encode())
    if rng.random() < 0.05:
        headers.extend(f"X-Many-{n}: y".encode() for n in range(150))  # past http.client's 100
    return headers


def _case(index: int, rng: random.Random) -> Case:
    status_line, status = _status_line(rng)
    body = _body(rng)
    headers = _headers(rng, body)
    if b"Transfer-Encoding: chunked" in headers:
        body = f"{len(body) + rng.choice([0, 0, 7]):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    head = status_line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"
    data = head + body
    timing = rng.randrange(10)
    close = True
    if timing == 0:  # trickled: a byte every 0.2 s, for much longer than the deadline
        chunks = [Chunk(data[:1])] + [
            Chunk(data[i : i + 1], 0.2) for i in range(1, min(len(data), 40))
        ]
    elif timing == 1:  # silent after the request
        chunks, close = [], False
    elif timing == 2:  # half the answer, then nothing
        chunks, close = [Chunk(data[: len(data) // 2])], False
    elif timing == 3:  # half the answer, then the connection closes
        chunks = [Chunk(data[: len(data) // 2])]
    else:
        chunks = [Chunk(data)]
    possible = status is not None and 200 <= status < 300
    clean = (
        possible
        and timing >= 4
        and not any(h.startswith(b"X-Many") for h in headers)
        and len(status_line) < 1000
    )
    return Case(index, status_line, possible, clean, Script(chunks, close=close))


def _cases() -> list[Case]:
    rng = random.Random(SEED)
    return [_case(index, rng) for index in range(CASES)]


@dataclass
class Outcome:
    case: Case
    delivered: bool
    error: BaseException | None
    elapsed: float


def _sink(rng: random.Random, url: str) -> HttpSink:
    options = {"attempts": 2, "max_seconds": MAX_SECONDS, "first_wait": 0.01, "timeout": TIMEOUT}
    if rng.random() < 0.5:
        return PagerDutySink(url=url, routing_key=ROUTING_KEY, connect_timeout=TIMEOUT, **options)  # type: ignore[arg-type]
    return WebhookSink(url=url, secret="fuzz-webhook-secret", connect_timeout=TIMEOUT, **options)  # type: ignore[arg-type]


def _run(case: Case) -> Outcome:
    rng = random.Random(SEED + case.index)
    with RawHttpServer([case.script]) as server:
        sink = _sink(rng, server.url)
        started = time.monotonic()
        try:
            sink.send(TRIGGER)
        except BaseException as exc:  # any exception is the finding
            return Outcome(case, False, exc, time.monotonic() - started)
        return Outcome(case, True, None, time.monotonic() - started)


@pytest.fixture(scope="module")
def outcomes() -> Iterator[list[Outcome]]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        yield list(pool.map(_run, _cases()))


def test_the_fuzz_cases_cover_what_they_claim(outcomes: list[Outcome]) -> None:
    # A fuzz run that never delivers, or never fails, is testing nothing.
    assert sum(o.delivered for o in outcomes) >= 5
    assert sum(not o.delivered for o in outcomes) >= 30
    assert sum(o.case.clean_2xx for o in outcomes) >= 5


def test_delivered_only_after_a_2xx_and_always_after_a_clean_one(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        case = outcome.case
        if outcome.delivered:
            assert case.delivered_possible, (case.index, case.status_line[:60])
        if case.clean_2xx:
            assert outcome.delivered, (case.index, outcome.error)


def test_every_failure_is_one_short_printable_pager_error(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        error = outcome.error
        if error is None:
            continue
        assert isinstance(error, PagerError), (outcome.case.index, repr(error))
        message = str(error)
        assert message.isprintable(), (outcome.case.index, message)
        assert 0 < len(message) < 400, (outcome.case.index, len(message))
        assert ROUTING_KEY.lower() not in message.lower()


def test_every_send_ends_within_its_budget(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        assert outcome.elapsed < MAX_SECONDS + TIMEOUT + 2.0, (outcome.case.index, outcome.elapsed)
