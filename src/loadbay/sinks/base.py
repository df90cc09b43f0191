"""The Sink protocol: upsert rows by key, and say which keys exist."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

from loadbay.domain.datasets import Dataset


class Sink(Protocol):
    """The records of one dataset.

    >>> sink.upsert(("code", "name"), ("name",), [("L1", "Leeds")])  # doctest: +SKIP
    >>> sink.existing_keys(["L1", "L2"])  # doctest: +SKIP
    {'L1'}
    """

    def existing_keys(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that are the key of a stored record."""
        ...

    def upsert(
        self, columns: Sequence[str], updated: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values in ``columns`` order), or for a key that exists update
        its ``updated`` columns. All rows or none."""
        ...


class SinkProvider(Protocol):
    def sink(self, dataset: Dataset) -> Sink: ...
