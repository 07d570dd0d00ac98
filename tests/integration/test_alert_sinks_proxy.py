"""Alert sinks behind a forward proxy (`http_proxy`/`https_proxy`/`no_proxy`), as curl reads them."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from support.certs import make_ca, make_leaf, write_pem
from support.pages import TRIGGER
from support.proxy import ForwardProxy
from support.rawhttp import RawHttpServer, Script, response
from support.tlsservers import ScriptedServer, Served
from ticketbridge.alerts import WebhookSink
from ticketbridge.errors import PagerError

NOW = datetime.now(UTC).replace(microsecond=0)


def read_request(tls: ssl.SSLSocket) -> bytes:
    """The whole request, body included: closing with the body unread would reset the
    connection under the client before it reads the answer (a race, not the sink's fault)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = tls.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.fixture
def proxy() -> Iterator[ForwardProxy]:
    with ForwardProxy() as running:
        yield running


def test_plain_http_goes_through_http_proxy_in_absolute_form(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("http_proxy", f"http://ops:pr0xy-pass@{proxy.address}:{proxy.port}")
    monkeypatch.delenv("no_proxy", raising=False)
    with RawHttpServer([Script([], reply=lambda _: response(202))]) as hook:
        WebhookSink(url=hook.url, attempts=1, timeout=2.0).send(TRIGGER)
        assert hook.posts == 1
    (head,) = proxy.seen
    assert head.startswith(f"POST {hook.url} HTTP/1.1".encode())
    assert b"Proxy-Authorization: Basic " in head


def test_no_proxy_exempts_the_host(proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("no_proxy", "127.0.0.9")
    with RawHttpServer([Script([], reply=lambda _: response(202))]) as hook:
        WebhookSink(url=hook.url, attempts=1, timeout=2.0).send(TRIGGER)
        assert hook.posts == 1
    assert proxy.seen == []


def test_https_tunnels_through_connect_and_verifies_the_sink(
    proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = make_ca(
        "Proxy Test Root", not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=30)
    )
    leaf = make_leaf(
        root,
        names=("hooks.example.test",),
        ip_addresses=("127.0.0.12",),
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=10),
        key_slot="proxy-hook",
    )
    write_pem(tmp_path / "leaf.pem", leaf)
    (tmp_path / "leaf.key").write_bytes(Served([leaf]).key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "leaf.pem", tmp_path / "leaf.key")
    received: list[bytes] = []

    def https_receiver(connection: socket.socket, stop: threading.Event) -> None:
        with server_context.wrap_socket(connection, server_side=True) as tls:
            received.append(read_request(tls))
            tls.sendall(response(202))

    client_context = ssl.create_default_context()
    write_pem(tmp_path / "root.pem", root)
    client_context.load_verify_locations(tmp_path / "root.pem")
    monkeypatch.setenv("https_proxy", proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    with ScriptedServer(https_receiver, address="127.0.0.12") as hook:
        url = f"https://127.0.0.12:{hook.port}/hook"
        WebhookSink(url=url, attempts=1, timeout=3.0, context=client_context).send(TRIGGER)
    (head,) = proxy.seen
    assert head.startswith(f"CONNECT 127.0.0.12:{hook.port} HTTP/".encode())
    assert received and received[0].startswith(b"POST /hook HTTP/1.1")  # end to end, in TLS


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.9/x", "http:///nohost", "http://127.0.0.9:99999/x", "http://h:x/"]
)
def test_an_unusable_sink_url_is_one_line_not_a_traceback(url: str) -> None:
    with pytest.raises(PagerError, match="URL"):
        WebhookSink(url=url, attempts=1).send(TRIGGER)


def test_an_unusable_proxy_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "socks5://127.0.0.11:1080")
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(PagerError, match="http_proxy must be an http:// proxy URL"):
        WebhookSink(url="http://127.0.0.9:1/x", attempts=1).send(TRIGGER)
