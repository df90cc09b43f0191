"""ClamAV's clamd over TCP or a unix socket, with the INSTREAM protocol.

>>> scanner = ClamdScanner("unix:///run/clamav/clamd.ctl")  # doctest: +SKIP
>>> scanner.scan(open("upload.csv", "rb"))  # doctest: +SKIP
ScanResult(verdict=<ScanVerdict.CLEAN: 'clean'>, signature=None, engine='ClamAV 1.0.7/...', ...)

The wire format: ``zINSTREAM\\0``, then chunks each prefixed by its length as 4 bytes
big-endian, then a zero length; clamd answers one NUL-terminated line. What clamd says,
and how it is read:

- ``stream: OK`` -> clean;
- ``stream: <signature> FOUND`` -> infected, except a ``Heuristics.Limits.Exceeded.*``
  signature (what ``AlertExceedsMax yes`` reports for a file over MaxFileSize or
  MaxScanSize), which means "not scanned" -> too large;
- ``INSTREAM size limit exceeded. ERROR`` (the stream passed StreamMaxLength) -> too
  large. clamd says this and closes the connection while the client is still sending,
  so a broken pipe while sending is not yet a failure: the answer is read first;
- any other ``... ERROR``, no answer, a refused connection or a timeout ->
  :class:`ScannerUnavailable`.
"""

from __future__ import annotations

import re
import socket
import struct
from typing import BinaryIO
from urllib.parse import urlsplit

from loadbay.scanners.base import (
    ScannerConfigError,
    ScannerUnavailable,
    ScanResult,
    ScanVerdict,
)

_LENGTH = struct.Struct(">I")
_END_OF_STREAM = _LENGTH.pack(0)
_MAX_REPLY_BYTES = 64 * 1024  # a reply is one short line; more means something is wrong
# "Heuristics.Limits.Exceeded" (older releases) or "Heuristics.Limits.Exceeded.MaxFileSize".
_LIMIT_EXCEEDED = re.compile(r"(?:^|\.)Exceeded(?:\.|$)")


class ClamdScanner:
    """Scans streams with clamd at ``tcp://host:port`` or ``unix:///path/to.sock``.

    Each call opens its own connection, so one instance is safe to share between
    threads. Memory stays bounded by ``chunk_bytes``: 1 MiB chunks keep clamd at full
    speed, where the 1 KiB chunks some clients send halve it. ``timeout`` applies to
    each socket operation, including the wait for the verdict after the last byte.
    """

    def __init__(self, url: str, *, chunk_bytes: int = 1 << 20, timeout: float = 60.0) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be positive, not {chunk_bytes}")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        self.url = url
        self._tcp_address, self._unix_path = _parse_url(url)
        self._chunk_bytes = chunk_bytes
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"ClamdScanner({self.url!r})"

    def version(self) -> str:
        """clamd's ``VERSION`` answer: engine release, signature database version, date."""
        with self._connect() as sock:
            self._send_command(sock, b"zVERSION\0")
            reply = self._read_reply(sock)
        if not reply:
            raise ScannerUnavailable(f"clamd at {self.url} closed the connection without a version")
        return reply

    def scan(self, stream: BinaryIO) -> ScanResult:
        """Stream ``stream`` to clamd and return its verdict; see the module docstring.

        Errors reading ``stream`` itself propagate unchanged: they are not clamd's.
        """
        engine = self.version()
        with self._connect() as sock:
            self._send_command(sock, b"zINSTREAM\0")
            sent = self._send_chunks(sock, stream)
            reply = self._read_reply(sock)
        return self._result(reply, engine, sent)

    def _send_chunks(self, sock: socket.socket, stream: BinaryIO) -> int:
        """Send the stream and the end marker; the number of payload bytes clamd took.

        Stops early, without error, if clamd closes the connection: it does that when
        the stream passes StreamMaxLength, after saying so in a reply still to be read.
        """
        sent = 0
        while chunk := stream.read(self._chunk_bytes):
            # One buffer per chunk: a separate 4-byte write would cost a syscall and,
            # under Nagle, can wait for an ACK.
            if not self._send_data(sock, _LENGTH.pack(len(chunk)) + chunk):
                return sent
            sent += len(chunk)
        self._send_data(sock, _END_OF_STREAM)
        return sent

    def _send_data(self, sock: socket.socket, data: bytes) -> bool:
        """False if clamd has closed the connection (its reply, if any, says why)."""
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except OSError as error:  # a timeout included
            raise ScannerUnavailable(f"clamd at {self.url}: sending failed: {error}") from error
        return True

    def _send_command(self, sock: socket.socket, command: bytes) -> None:
        try:
            sock.sendall(command)
        except OSError as error:
            raise ScannerUnavailable(f"clamd at {self.url}: sending failed: {error}") from error

    def _read_reply(self, sock: socket.socket) -> str:
        """clamd's NUL-terminated answer, or ``""`` if it closed without one."""
        data = bytearray()
        while b"\0" not in data and len(data) < _MAX_REPLY_BYTES:
            try:
                piece = sock.recv(4096)
            except ConnectionResetError:
                # clamd answered, closed, and our unread chunks made its kernel reset the
                # connection: what arrived before the reset is still the answer.
                break
            except OSError as error:  # a timeout included
                raise ScannerUnavailable(f"clamd at {self.url}: no reply: {error}") from error
            if not piece:
                break
            data += piece
        return data.split(b"\0", 1)[0].decode("utf-8", "replace").strip()

    def _result(self, reply: str, engine: str, sent: int) -> ScanResult:
        if reply == "stream: OK":
            return ScanResult(ScanVerdict.CLEAN, None, engine, sent)
        if reply.startswith("stream:") and reply.endswith(" FOUND"):
            signature = reply.removeprefix("stream:").removesuffix(" FOUND").strip()
            verdict = (
                ScanVerdict.TOO_LARGE if _LIMIT_EXCEEDED.search(signature) else ScanVerdict.INFECTED
            )
            return ScanResult(verdict, signature, engine, sent)
        if "size limit exceeded" in reply and reply.endswith("ERROR"):
            return ScanResult(ScanVerdict.TOO_LARGE, None, engine, sent)
        if not reply:
            raise ScannerUnavailable(
                f"clamd at {self.url} closed the connection without a verdict after {sent} bytes"
            )
        raise ScannerUnavailable(f"clamd at {self.url} answered {reply!r}")

    def _connect(self) -> socket.socket:
        try:
            if self._unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.settimeout(self._timeout)
                    sock.connect(self._unix_path)
                except BaseException:
                    sock.close()
                    raise
                return sock
            assert self._tcp_address is not None
            sock = socket.create_connection(self._tcp_address, timeout=self._timeout)
        except OSError as error:  # refused, missing socket file, timeout, unknown host
            raise ScannerUnavailable(f"clamd at {self.url}: cannot connect: {error}") from error
        # Large writes only, so Nagle can only delay the final end marker.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def _parse_url(url: str) -> tuple[tuple[str, int] | None, str | None]:
    """(TCP address, unix socket path), one of them ``None``; a bad URL names the setting."""
    expected = "expected tcp://host:port or unix:///path/to/clamd.sock"
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        raise ScannerConfigError(f"scanner.url: {url!r}: {expected}")
    if parts.scheme == "tcp":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise ScannerConfigError(f"scanner.url: {url!r}: {expected}")
        return (parts.hostname, port), None
    if parts.scheme == "unix":
        if parts.netloc or not parts.path:
            raise ScannerConfigError(f"scanner.url: {url!r}: {expected} (three slashes)")
        if not hasattr(socket, "AF_UNIX"):
            raise ScannerConfigError(f"scanner.url: {url!r}: no unix sockets on this platform")
        return None, parts.path
    raise ScannerConfigError(f"scanner.url: {url!r}: {expected}")
