"""Writes an import's valid rows to the sink on a thread of their own.

Checking rows is mostly polars work, which runs without the GIL; writing them is
``executemany`` (SQLite) or ``COPY`` (PostgreSQL), whose drivers release the GIL while
the database works. On a thread of its own the writer overlaps the checking on a second
core (``make bench``: about 20% faster than writing inline). At most two batches wait
for the writer; the importer counts a batch as done (progress, counts) only once it is
committed, and batches are committed in order.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Sequence

import polars as pl

from loadbay.sinks.base import Sink

_MAX_WAITING = 2
_STOP = -1


class WriterFailed(RuntimeError):
    """The writer thread could not write a batch (the cause is chained)."""


class SinkWriter:
    """Upserts batches of values (columns in ``columns`` order) in the background."""

    def __init__(self, sink: Sink, columns: Sequence[str], updated: Sequence[str]) -> None:
        self._sink = sink
        self._columns = tuple(columns)
        self._updated = tuple(updated)
        self._waiting: queue.Queue[tuple[int, pl.DataFrame | None]] = queue.Queue(_MAX_WAITING)
        self._committed: queue.Queue[int] = queue.Queue()
        self._failure: BaseException | None = None
        self._abandon = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadbay-sink-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch, values = self._waiting.get()
            if batch == _STOP or self._abandon.is_set():
                return
            assert values is not None
            try:
                self._sink.upsert(self._columns, self._updated, values)
            except BaseException as error:
                self._failure = error
                return
            self._committed.put(batch)

    def write(self, batch: int, values: pl.DataFrame) -> list[int]:
        """Queue batch ``batch``; return the batches committed since the last call, in
        order. Waits while two batches are already waiting."""
        while True:
            self._raise_if_failed()
            try:
                self._waiting.put((batch, values), timeout=0.2)
                break
            except queue.Full:
                continue
        return self._drain()

    def flush(self) -> list[int]:
        """Wait until every queued batch is committed; return those not yet returned."""
        self._waiting.put((_STOP, None))
        self._thread.join()
        self._raise_if_failed()
        return self._drain()

    def close(self) -> None:
        """Stop, abandoning batches not yet written (a cancelled or failed job)."""
        if self._thread.is_alive():
            self._abandon.set()
            with contextlib.suppress(queue.Full):
                self._waiting.put((_STOP, None), timeout=30)
            self._thread.join(timeout=60)

    def _drain(self) -> list[int]:
        done = []
        while True:
            try:
                done.append(self._committed.get_nowait())
            except queue.Empty:
                return done

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise WriterFailed(f"writing a batch failed: {self._failure}") from self._failure
