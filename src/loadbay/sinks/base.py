"""The Sink protocol: upsert rows by key, and say which keys exist."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

import polars as pl

from loadbay.domain.datasets import Dataset


class Sink(Protocol):
    """The records of one dataset.

    A batch arrives as a polars frame, as the importer builds it, so that a sink can
    hand it to its database in bulk (PostgreSQL ``COPY``) without a detour through
    Python tuples; a sink that wants tuples asks the frame for them.

    >>> rows = pl.DataFrame({"code": ["L1"], "name": ["Leeds"]})
    >>> sink.upsert(("code", "name"), ("name",), rows)  # doctest: +SKIP
    >>> sink.existing_keys(["L1", "L2"])  # doctest: +SKIP
    {'L1'}
    """

    def existing_keys(self, keys: Collection[str]) -> set[str]:
        """Those of ``keys`` that are the key of a stored record."""
        ...

    def upsert(self, columns: Sequence[str], updated: Sequence[str], rows: pl.DataFrame) -> None:
        """Insert ``rows`` (a frame whose columns are exactly ``columns``, in order), or
        for a key that exists update its ``updated`` columns. All rows or none.

        Values are what :class:`~loadbay.pipeline.columnar_rules.ColumnarValidator`
        makes: text (dates, datetimes and decimals in ISO form), 64-bit integers,
        booleans, nulls, and ``pl.Object`` columns of Python values (integers beyond
        64 bits)."""
        ...


class SinkProvider(Protocol):
    def sink(self, dataset: Dataset) -> Sink: ...
