"""A small buffered byte stream over a non-blocking socket, with a budget on what it reads.

The probe speaks plaintext (STARTTLS preambles) and then TLS through memory buffers on the same
socket, so it owns the socket directly instead of going through asyncio's transports: those keep a
256 KiB buffer per TLS connection, which at thousands of connections in flight is most of the
process's memory.
"""

from __future__ import annotations

import asyncio
import socket


class ProtocolViolation(Exception):
    """The peer broke the dialogue: too much data, garbage, or an unexpected answer."""


class PeerClosed(ConnectionError):
    """The peer closed the connection cleanly while we were waiting for data."""


class PlainStream:
    """Buffered reads and writes on a connected non-blocking socket.

    `budget` caps the total bytes read over the stream's life, so a server that streams
    garbage or an endless banner costs bounded memory.
    """

    RECV_CHUNK = 16384

    def __init__(self, sock: socket.socket, budget: int) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._remaining = budget
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reading = False
        self.bytes_read = 0

    @property
    def socket(self) -> socket.socket:
        return self._sock

    async def send(self, data: bytes) -> None:
        # Handshake messages fit the socket buffer: one direct send, the loop only if it does not.
        try:
            sent = self._sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        if sent < len(data):
            await self._loop.sock_sendall(self._sock, data[sent:])

    # Reading: the socket stays registered with the event loop from the first read until the
    # stream is paused or closed, instead of once per read; what arrives in between is buffered.

    def _resume(self) -> None:
        if not self._reading and self._error is None:
            self._loop.add_reader(self._fd, self._on_readable)
            self._reading = True

    def pause(self) -> None:
        """Stop reading from the socket (before handing it to someone else, and on close)."""
        if self._reading:
            self._loop.remove_reader(self._fd)
            self._reading = False

    close = pause

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(min(self.RECV_CHUNK, self._remaining))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._stop(exc)
            return
        if not data:
            self._stop(PeerClosed("connection closed by the server"))
            return
        self._buffer += data
        self._remaining -= len(data)
        self.bytes_read += len(data)
        if self._remaining <= 0:
            self._stop(ProtocolViolation("peer sent more data than any handshake needs"))
        self._wake()

    def _stop(self, error: BaseException) -> None:
        self._error = error
        self.pause()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _more(self) -> None:
        """Wait until more bytes are buffered; raise what ended the stream once it is drained."""
        if self._error is not None:
            raise self._error
        self._resume()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        if self._error is not None and not self._buffer:
            raise self._error

    async def recv_some(self) -> bytes:
        """Whatever is buffered, else the next chunk from the socket; raises PeerClosed at EOF."""
        while not self._buffer:
            await self._more()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data

    async def read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            await self._more()
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    async def readline(self, limit: int = 8192) -> bytes:
        """One line including its terminator (LF); a longer line is a protocol violation."""
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[: newline + 1])
                del self._buffer[: newline + 1]
                return line
            if len(self._buffer) > limit:
                raise ProtocolViolation(f"line longer than {limit} bytes")
            await self._more()

    async def read_until(self, marker: bytes, limit: int = 65536) -> bytes:
        """Everything up to and including `marker`."""
        while True:
            found = self._buffer.find(marker)
            if found >= 0:
                end = found + len(marker)
                data = bytes(self._buffer[:end])
                del self._buffer[:end]
                return data
            if len(self._buffer) > limit:
                raise ProtocolViolation(f"no {marker!r} within {limit} bytes")
            await self._more()

    def take_buffered(self) -> bytes:
        """Bytes read ahead of the dialogue; reading pauses until the next read, so the socket
        can be handed over (to a TLS handshake) without this stream taking its bytes."""
        self.pause()
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
