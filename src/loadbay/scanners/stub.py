"""A scripted scanner: the test double of the Scanner protocol."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from loadbay.scanners.base import ScannerUnavailable, ScanResult


class StubScanner:
    """Answers each scan with the next scripted outcome (a result, or an exception to
    raise, e.g. :class:`ScannerUnavailable`); the last one repeats.

    >>> StubScanner([ScannerUnavailable("down")])  # doctest: +ELLIPSIS
    <...StubScanner object at ...>
    """

    def __init__(self, outcomes: Iterable[ScanResult | Exception]) -> None:
        self._outcomes = list(outcomes)
        self.scanned: list[bytes] = []

    def scan(self, stream: BinaryIO) -> ScanResult:
        self.scanned.append(stream.read())
        outcome = self._outcomes.pop(0) if len(self._outcomes) > 1 else self._outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def version(self) -> str:
        return "stub"


__all__ = ["ScannerUnavailable", "StubScanner"]
