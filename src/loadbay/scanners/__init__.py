"""Malware scanning of uploads: a narrow :class:`Scanner` protocol, chosen by
``[scanner] backend`` (``clamd`` or ``none``)."""

from loadbay.scanners.base import (
    Scanner,
    ScannerConfigError,
    ScannerUnavailable,
    ScanResult,
    ScanVerdict,
    open_scanner,
)

__all__ = [
    "ScanResult",
    "ScanVerdict",
    "Scanner",
    "ScannerConfigError",
    "ScannerUnavailable",
    "open_scanner",
]
