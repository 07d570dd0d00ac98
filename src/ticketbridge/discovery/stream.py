"""A small buffered byte stream over a non-blocking socket, with a budget on what it reads.

The probe speaks plaintext (STARTTLS preambles) and then TLS through `ssl.MemoryBIO` on the same
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
        self._loop = asyncio.get_running_loop()
        self._buffer = bytearray()
        self._remaining = budget
        self.bytes_read = 0

    @property
    def socket(self) -> socket.socket:
        return self._sock

    async def send(self, data: bytes) -> None:
        await self._loop.sock_sendall(self._sock, data)

    async def recv_some(self) -> bytes:
        """Whatever is buffered, else the next chunk from the socket; raises PeerClosed at EOF."""
        if self._buffer:
            data = bytes(self._buffer)
            self._buffer.clear()
            return data
        return await self._recv_chunk()

    async def _recv_chunk(self) -> bytes:
        if self._remaining <= 0:
            raise ProtocolViolation("peer sent more data than any handshake needs")
        data = await self._loop.sock_recv(self._sock, min(self.RECV_CHUNK, self._remaining))
        if not data:
            raise PeerClosed("connection closed by the server")
        self._remaining -= len(data)
        self.bytes_read += len(data)
        return data

    async def read_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            self._buffer += await self._recv_chunk()
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
            self._buffer += await self._recv_chunk()

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
            self._buffer += await self._recv_chunk()

    def take_buffered(self) -> bytes:
        """Bytes read ahead of the dialogue (the start of the TLS handshake, if any)."""
        data = bytes(self._buffer)
        self._buffer.clear()
        return data
