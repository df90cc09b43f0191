"""The Scanner protocol, its result, and the choice of backend by ``[scanner] backend``.

A scanner reads an upload once, as a stream, and says whether it may go further.
Anything short of a definite answer is an exception, so that a caller cannot
mistake "could not scan" for "clean":

>>> scanner = open_scanner("clamd", "tcp://127.0.0.1:3310")  # doctest: +SKIP
>>> scanner.scan(io.BytesIO(b"hello")).verdict  # doctest: +SKIP
<ScanVerdict.CLEAN: 'clean'>
>>> open_scanner("none", "") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO, Protocol

KNOWN_BACKENDS = ("clamd", "none")


class ScanVerdict(StrEnum):
    """What a completed scan found. ``TOO_LARGE`` means "not scanned", never "clean"."""

    CLEAN = "clean"
    INFECTED = "infected"
    TOO_LARGE = "too_large"


@dataclass(frozen=True)
class ScanResult:
    """One scan's answer, with what the job record needs to show how it was reached.

    ``signature`` names the match when infected (``"Test.EICAR.NDB.UNOFFICIAL"``) and, for
    a limit clamd reports as a heuristic (``"Heuristics.Limits.Exceeded.MaxFileSize"``),
    which limit was hit. ``engine`` is the engine's own version string, recorded because
    a verdict is only as good as the signatures it was made with. ``bytes_scanned`` is the
    number of bytes sent to the engine (for ``TOO_LARGE``: those sent before it refused).
    """

    verdict: ScanVerdict
    signature: str | None
    engine: str
    bytes_scanned: int


class ScannerUnavailable(Exception):
    """clamd cannot be reached, closed the connection, or answered an error other than a
    size limit; the caller retries."""


class ScannerConfigError(ValueError):
    """A bad ``[scanner]`` setting; the message names it."""


class Scanner(Protocol):
    """Scans one stream at a time; safe to share, as each call opens its own connection.

    >>> result = scanner.scan(open("upload.csv", "rb"))  # doctest: +SKIP
    >>> result.verdict, result.signature  # doctest: +SKIP
    (<ScanVerdict.CLEAN: 'clean'>, None)
    """

    def scan(self, stream: BinaryIO) -> ScanResult:
        """Send ``stream`` to the engine, reading it to its end (or until the engine cuts
        a too-large stream short), in memory bounded by the chunk size.

        Raises :class:`ScannerUnavailable` when no verdict could be had.
        """
        ...

    def version(self) -> str:
        """The engine's version string, e.g. ``"ClamAV 1.0.7/27500/Mon Jan 6 2025"``."""
        ...


def open_scanner(
    backend: str, url: str, *, chunk_bytes: int = 1 << 20, timeout: float = 60.0
) -> Scanner | None:
    """The scanner ``[scanner] backend`` names, or ``None`` for ``"none"`` (no scanning).

    Backends import lazily, so a deployment without a scanner loads none of their code.
    """
    if backend == "none":
        return None
    if backend == "clamd":
        from loadbay.scanners.clamd import ClamdScanner

        return ClamdScanner(url, chunk_bytes=chunk_bytes, timeout=timeout)
    raise ScannerConfigError(
        f"scanner.backend: unknown backend {backend!r} (known: {', '.join(KNOWN_BACKENDS)})"
    )
