"""STARTTLS dialogues against loopback servers: upgrade, refusal, garbage and injection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from support.starttls_servers import (
    XMPP_SASL_FEATURE,
    Handler,
    StartTLSServer,
    TLSIdentity,
    finish_with_tls,
    ftp,
    hangs_up,
    imap,
    ldap,
    plain_stream,
    pop3,
    postgres,
    sends,
    silent,
    smtp,
    xmpp,
)
from ticketbridge.core.model import Endpoint, ErrorKind, Protocol
from ticketbridge.discovery.starttls import StartTLSRefused, negotiate
from ticketbridge.discovery.stream import PeerClosed, ProtocolViolation

SERVER_NAME = "mail.test"

SPEAKERS: dict[Protocol, Handler] = {
    Protocol.SMTP: smtp(),
    Protocol.IMAP: imap(),
    Protocol.POP3: pop3(),
    Protocol.FTP: ftp(),
    Protocol.POSTGRES: postgres(),
    Protocol.LDAP: ldap(),
    Protocol.XMPP: xmpp(),
}


@pytest.fixture(scope="module")
def identity() -> TLSIdentity:
    return TLSIdentity.create(SERVER_NAME, "127.0.0.1")


async def upgrade(server: StartTLSServer, protocol: Protocol, identity: TLSIdentity) -> bytes:
    """Negotiate, then finish a verifying TLS handshake; the leaf the client received."""
    async with plain_stream(server.address) as stream:
        await negotiate(protocol, stream, SERVER_NAME)
        return await finish_with_tls(stream, identity.client_context(), SERVER_NAME)


async def negotiate_only(server: StartTLSServer, protocol: Protocol, budget: int = 1 << 20) -> None:
    async with plain_stream(server.address, budget=budget) as stream:
        await negotiate(protocol, stream, SERVER_NAME)


# --- Upgrades that work ------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", list(SPEAKERS), ids=str)
async def test_upgrade_leaves_socket_ready_for_tls(
    protocol: Protocol, identity: TLSIdentity
) -> None:
    with StartTLSServer(SPEAKERS[protocol], identity) as server:
        leaf = await upgrade(server, protocol, identity)
        session = server.last_session()
    assert leaf == identity.leaf_der
    assert session.tls_established
    assert session.sni == SERVER_NAME
    assert session.early_client_bytes == b""


async def test_smtp_ehlo_names_the_client_by_address_literal(identity: TLSIdentity) -> None:
    with StartTLSServer(smtp(), identity) as server:
        await upgrade(server, Protocol.SMTP, identity)
        session = server.last_session()
    assert session.received == [b"EHLO [127.0.0.1]\r\n", b"STARTTLS\r\n"]


async def test_smtp_keyword_match_ignores_case(identity: TLSIdentity) -> None:
    handler = smtp(extensions=(b"pipelining", b"starttls"))
    with StartTLSServer(handler, identity) as server:
        assert await upgrade(server, Protocol.SMTP, identity) == identity.leaf_der


async def test_imap_skips_untagged_lines_and_literals(identity: TLSIdentity) -> None:
    untagged = b'* OK [ALERT] maintenance tonight\r\n* 3 EXISTS\r\n* LIST () "/" {5}\r\nINBOX\r\n'
    with StartTLSServer(imap(untagged_before_reply=untagged), identity) as server:
        assert await upgrade(server, Protocol.IMAP, identity) == identity.leaf_der
        assert server.last_session().received == [b"a001 STARTTLS\r\n"]


async def test_ftp_waits_past_service_ready_in_minutes(identity: TLSIdentity) -> None:
    greeting = b"120 ready in 1 minute\r\n220 ready\r\n"
    with StartTLSServer(ftp(greeting=greeting), identity) as server:
        assert await upgrade(server, Protocol.FTP, identity) == identity.leaf_der
        assert server.last_session().received == [b"AUTH TLS\r\n"]


async def test_xmpp_stream_header_addresses_the_server(identity: TLSIdentity) -> None:
    with StartTLSServer(xmpp(), identity) as server:
        await upgrade(server, Protocol.XMPP, identity)
        header = b"".join(server.last_session().received[:2])
    assert b"to='mail.test'" in header
    assert b"xmlns='jabber:client'" in header


async def test_xmpp_escapes_the_server_name(identity: TLSIdentity) -> None:
    with StartTLSServer(xmpp(), identity) as server:
        async with plain_stream(server.address) as stream:
            await negotiate(Protocol.XMPP, stream, "a'b<c>")
        header = b"".join(server.last_session().received[:2])
    assert b"to='a&apos;b&lt;c&gt;'" in header


async def test_ldap_request_is_the_startTLS_extended_operation(identity: TLSIdentity) -> None:
    with StartTLSServer(ldap(), identity) as server:
        await upgrade(server, Protocol.LDAP, identity)
        request = b"".join(server.last_session().received[:2])
    assert request == (b"\x30\x1d\x02\x01\x01\x77\x18\x80\x16" + b"1.3.6.1.4.1.1466.20037")


# --- The server declines -----------------------------------------------------------------------

REFUSALS: list[tuple[str, Protocol, Handler, str]] = [
    (
        "smtp-no-starttls-keyword",
        Protocol.SMTP,
        smtp(extensions=(b"PIPELINING", b"8BITMIME")),
        "does not offer STARTTLS",
    ),
    (
        "smtp-454",
        Protocol.SMTP,
        smtp(starttls_reply=b"454 4.7.0 TLS not available due to temporary reason\r\n"),
        "454 4.7.0 TLS not available",
    ),
    (
        "smtp-554-greeting",
        Protocol.SMTP,
        smtp(greeting=b"554 mail.test no service for you\r\n"),
        "554 mail.test no service",
    ),
    ("imap-preauth", Protocol.IMAP, imap(greeting=b"* PREAUTH welcome back\r\n"), "PREAUTH"),
    ("imap-bye", Protocol.IMAP, imap(greeting=b"* BYE too busy\r\n"), "BYE too busy"),
    (
        "imap-no",
        Protocol.IMAP,
        imap(starttls_reply=b"{tag} NO TLS is not configured\r\n"),
        "a001 NO TLS is not configured",
    ),
    (
        "imap-bad",
        Protocol.IMAP,
        imap(starttls_reply=b"{tag} BAD unknown command\r\n"),
        "a001 BAD",
    ),
    ("pop3-err", Protocol.POP3, pop3(stls_reply=b"-ERR TLS not available\r\n"), "-ERR TLS"),
    (
        "ftp-534",
        Protocol.FTP,
        ftp(auth_reply=b"534 Local policy on server does not allow TLS.\r\n"),
        "534 Local policy",
    ),
    ("ftp-421-greeting", Protocol.FTP, ftp(greeting=b"421 Too many users\r\n"), "421 Too many"),
    ("postgres-n", Protocol.POSTGRES, postgres(answer=b"N"), "SSL is off"),
    (
        "ldap-unwilling",
        Protocol.LDAP,
        ldap(result_code=53, diagnostic=b"TLS not configured"),
        "resultCode 53 (unwillingToPerform) TLS not configured",
    ),
    (
        "ldap-disconnect",
        Protocol.LDAP,
        ldap(notice_of_disconnection=True),
        "disconnected: resultCode 52 (unavailable)",
    ),
    ("xmpp-no-feature", Protocol.XMPP, xmpp(features=XMPP_SASL_FEATURE), "does not offer"),
    (
        "xmpp-failure",
        Protocol.XMPP,
        xmpp(starttls_reply=b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>"),
        "<failure",
    ),
    (
        "xmpp-stream-error",
        Protocol.XMPP,
        sends(
            b"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
            b"<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error></stream:stream>"
        ),
        "host-unknown",
    ),
]


@pytest.mark.parametrize(
    ("protocol", "handler", "answer"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
async def test_refusal_says_what_the_server_answered(
    protocol: Protocol, handler: Handler, answer: str, identity: TLSIdentity
) -> None:
    with (
        StartTLSServer(handler, identity) as server,
        pytest.raises(StartTLSRefused) as refused,
    ):
        await negotiate_only(server, protocol)
    assert answer in str(refused.value)
    assert not server.last_session().tls_established


async def test_refusal_message_escapes_control_characters(identity: TLSIdentity) -> None:
    greeting = b"554 \x1b[31mgo away\x07 \xe2\x80\xae" + b"x" * 1000 + b"\r\n"
    with (
        StartTLSServer(smtp(greeting=greeting), identity) as server,
        pytest.raises(StartTLSRefused) as refused,
    ):
        await negotiate_only(server, Protocol.SMTP)
    message = str(refused.value)
    assert "554 \\x1b[31mgo away\\x07 \\u202e" in message
    assert all(char.isprintable() for char in message)
    assert len(message) < 300
    assert message.endswith("…")


# --- Garbage, oversized input and silence ------------------------------------------------------

GARBAGE: list[tuple[str, Protocol, bytes]] = [
    ("smtp-http", Protocol.SMTP, b"HTTP/1.1 400 Bad Request\r\n\r\n"),
    ("smtp-long-line", Protocol.SMTP, b"220-" + b"x" * 10000),
    ("smtp-endless-reply", Protocol.SMTP, b"220-hello\r\n" * 300),
    ("smtp-mixed-codes", Protocol.SMTP, b"220-hello\r\n250 world\r\n"),
    ("imap-no-greeting", Protocol.IMAP, b"+OK this is POP3\r\n"),
    ("pop3-no-greeting", Protocol.POP3, b"* OK this is IMAP\r\n"),
    ("ftp-no-greeting", Protocol.FTP, b"SSH-2.0-OpenSSH_9.6\r\n"),
    ("postgres-other-byte", Protocol.POSTGRES, b"E"),
    ("ldap-not-a-sequence", Protocol.LDAP, b"\x16\x03\x01\x00\x05hello"),
    ("ldap-indefinite-length", Protocol.LDAP, b"\x30\x80\x02\x01\x01\x00\x00"),
    ("ldap-huge-length", Protocol.LDAP, b"\x30\x84\x7f\xff\xff\xff"),
    (
        "ldap-wrong-message-id",
        Protocol.LDAP,
        b"\x30\x0c\x02\x01\x07\x78\x07\x0a\x01\x00\x04\x00\x04\x00",
    ),
    ("ldap-element-overrun", Protocol.LDAP, b"\x30\x05\x02\x01\x01\x78\x40"),
    ("xmpp-endless-features", Protocol.XMPP, b"<stream:stream><stream:features>" + b"<a>" * 30000),
    (
        "xmpp-not-proceed",
        Protocol.XMPP,
        b"<stream:features><starttls/></stream:features><success/>",
    ),
]


@pytest.mark.parametrize(
    ("protocol", "data"), [case[1:] for case in GARBAGE], ids=[case[0] for case in GARBAGE]
)
async def test_garbage_is_a_protocol_violation(
    protocol: Protocol, data: bytes, identity: TLSIdentity
) -> None:
    with (
        StartTLSServer(sends(data), identity) as server,
        pytest.raises(ProtocolViolation) as violation,
    ):
        await negotiate_only(server, protocol)
    assert not isinstance(violation.value, StartTLSRefused)


async def test_budget_caps_what_a_server_can_make_us_read(identity: TLSIdentity) -> None:
    with (
        StartTLSServer(sends(b"220-hello\r\n" * 20), identity) as server,
        pytest.raises(ProtocolViolation, match="more data than any handshake needs"),
    ):
        await negotiate_only(server, Protocol.SMTP, budget=64)


@pytest.mark.parametrize("protocol", list(SPEAKERS), ids=str)
async def test_silent_server_leaves_the_timeout_to_the_caller(
    protocol: Protocol, identity: TLSIdentity
) -> None:
    with StartTLSServer(silent(), identity) as server:
        async with plain_stream(server.address) as stream:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(negotiate(protocol, stream, SERVER_NAME), 0.2)


@pytest.mark.parametrize("protocol", list(SPEAKERS), ids=str)
async def test_hang_up_propagates_peer_closed(protocol: Protocol, identity: TLSIdentity) -> None:
    with (
        StartTLSServer(hangs_up(), identity) as server,
        pytest.raises((PeerClosed, ConnectionResetError, BrokenPipeError)),
    ):
        await negotiate_only(server, protocol)


# --- Bytes before the handshake (CVE-2011-0411, CVE-2021-23222) --------------------------------

INJECTIONS: dict[Protocol, Handler] = {
    Protocol.SMTP: smtp(starttls_reply=b"220 2.0.0 Ready\r\n250 injected\r\n"),
    Protocol.IMAP: imap(starttls_reply=b"{tag} OK go ahead\r\n* OK injected\r\n"),
    Protocol.POP3: pop3(stls_reply=b"+OK go ahead\r\n+OK injected\r\n"),
    Protocol.FTP: ftp(auth_reply=b"234 go ahead\r\n230 injected\r\n"),
    Protocol.POSTGRES: postgres(answer=b"SE\x00\x00\x00\x05X"),
    Protocol.XMPP: xmpp(starttls_reply=b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><x/>"),
}


@pytest.mark.parametrize("protocol", list(INJECTIONS), ids=str)
async def test_bytes_after_the_go_ahead_are_rejected(
    protocol: Protocol, identity: TLSIdentity
) -> None:
    with (
        StartTLSServer(INJECTIONS[protocol], identity) as server,
        pytest.raises(ProtocolViolation, match="before the TLS handshake") as violation,
    ):
        await negotiate_only(server, protocol)
    assert not isinstance(violation.value, StartTLSRefused)


async def test_ldap_bytes_after_the_response_are_rejected(identity: TLSIdentity) -> None:
    success = b"\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00"
    with (
        StartTLSServer(sends(success + b"\x30\x03\x02\x01\x02"), identity) as server,
        pytest.raises(ProtocolViolation, match="before the TLS handshake"),
    ):
        await negotiate_only(server, Protocol.LDAP)


async def test_protocol_without_a_dialogue_is_a_programming_error(identity: TLSIdentity) -> None:
    with StartTLSServer(silent(), identity) as server:
        async with plain_stream(server.address) as stream:
            with pytest.raises(ValueError, match="tls has no STARTTLS dialogue"):
                await negotiate(Protocol.TLS, stream, SERVER_NAME)


# --- End to end through the probe --------------------------------------------------------------


def tls_module() -> Any:
    return pytest.importorskip(
        "ticketbridge.discovery.tls", reason="the probe (discovery/tls.py) is not in this tree yet"
    )


def endpoint(server: StartTLSServer, protocol: Protocol) -> Endpoint:
    return Endpoint(
        host=SERVER_NAME,
        port=server.port,
        address="127.0.0.1",
        sni=SERVER_NAME,
        protocol=protocol,
    )


@pytest.mark.parametrize("protocol", list(SPEAKERS), ids=str)
async def test_probe_reads_the_certificate_behind_starttls(
    protocol: Protocol, identity: TLSIdentity
) -> None:
    tls = tls_module()
    with StartTLSServer(SPEAKERS[protocol], identity) as server:
        observation = await tls.probe(endpoint(server, protocol), tls.ProbeOptions())
    assert observation.status == "ok", observation.error
    assert observation.certificate.names == (SERVER_NAME,)
    assert observation.chain[0].fingerprint_sha256 == observation.certificate.fingerprint_sha256


@pytest.mark.parametrize(
    ("protocol", "handler"),
    [case[1:3] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
async def test_probe_reports_a_refusal_as_a_protocol_error(
    protocol: Protocol, handler: Handler, identity: TLSIdentity
) -> None:
    tls = tls_module()
    with StartTLSServer(handler, identity) as server:
        observation = await tls.probe(endpoint(server, protocol), tls.ProbeOptions())
    assert observation.status == "error"
    assert observation.error.kind == ErrorKind.PROTOCOL
    assert observation.certificate is None


async def test_probe_reports_injection_as_a_protocol_error(identity: TLSIdentity) -> None:
    tls = tls_module()
    with StartTLSServer(INJECTIONS[Protocol.SMTP], identity) as server:
        observation = await tls.probe(endpoint(server, Protocol.SMTP), tls.ProbeOptions())
    assert observation.status == "error"
    assert observation.error.kind == ErrorKind.PROTOCOL
    assert "before the TLS handshake" in observation.error.message


async def test_probe_times_out_on_a_silent_server(identity: TLSIdentity) -> None:
    tls = tls_module()
    with StartTLSServer(silent(), identity) as server:
        options = tls.ProbeOptions(handshake_timeout=0.2)
        observation = await tls.probe(endpoint(server, Protocol.IMAP), options)
    assert observation.status == "error"
    assert observation.error.kind == ErrorKind.TIMEOUT
