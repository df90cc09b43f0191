"""Where an import's valid rows are written: inline, or by a helper process.

Parsing and checking rows keep one core busy; so does writing them to the database
(with SQLite, mostly the Python side of ``executemany``). For a large file the
:class:`ProcessWriter` hands each batch of values, as Arrow IPC bytes, to a child
process that upserts it, so the two overlap on two cores. Small files are written
inline: a child process costs about a second to start.

Both acknowledge batches in order; the importer counts a batch as done (progress,
counts) only once its rows are committed.
"""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from typing import Protocol

import polars as pl

from loadbay.domain.datasets import Dataset
from loadbay.sinks.base import Sink

_MAX_IN_FLIGHT = 2


class SinkWriter(Protocol):
    def write(self, batch: int, values: pl.DataFrame) -> list[int]:
        """Queue ``values`` (columns in upsert order) of batch ``batch``; return the
        batches committed since the last call, in order. May wait for room."""
        ...

    def flush(self) -> list[int]:
        """Wait until every queued batch is committed; return those not yet returned."""
        ...

    def close(self) -> None:
        """Stop, abandoning whatever is not committed."""
        ...


class InlineWriter:
    """Upserts each batch at once, in the calling thread."""

    def __init__(self, sink: Sink, columns: Sequence[str], updated: Sequence[str]) -> None:
        self._sink = sink
        self._columns = tuple(columns)
        self._updated = tuple(updated)

    def write(self, batch: int, values: pl.DataFrame) -> list[int]:
        self._sink.upsert(self._columns, self._updated, values.rows())
        return [batch]

    def flush(self) -> list[int]:
        return []

    def close(self) -> None:
        pass


class WriterFailed(RuntimeError):
    """The writer process could not write a batch; the message carries its traceback."""


class ProcessWriter:
    """Upserts batches in a child process, at most two batches behind the caller."""

    def __init__(
        self, target_url: str, dataset: Dataset, columns: Sequence[str], updated: Sequence[str]
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, target_url, dataset, tuple(columns), tuple(updated)),
            name="loadbay-sink-writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._in_flight: list[int] = []

    def write(self, batch: int, values: pl.DataFrame) -> list[int]:
        buffer = io.BytesIO()
        values.write_ipc(buffer, compression="uncompressed")
        self._connection.send_bytes(batch.to_bytes(8, "big") + buffer.getbuffer())
        self._in_flight.append(batch)
        done = []
        while len(self._in_flight) > _MAX_IN_FLIGHT or self._connection.poll():
            done.append(self._acknowledged())
        return done

    def flush(self) -> list[int]:
        return [self._acknowledged() for _ in list(self._in_flight)]

    def _acknowledged(self) -> int:
        try:
            reply = self._connection.recv()
        except EOFError as error:
            raise WriterFailed("the writer process stopped unexpectedly") from error
        if isinstance(reply, str):
            raise WriterFailed(f"the writer process failed:\n{reply}")
        expected = self._in_flight.pop(0)
        assert reply == expected, f"batch {reply} acknowledged before {expected}"
        return expected

    def close(self) -> None:
        if self._process.is_alive():
            with contextlib.suppress(OSError):
                self._connection.send_bytes(b"")
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join()
        self._connection.close()


def _serve(
    connection: Connection,
    target_url: str,
    dataset: Dataset,
    columns: tuple[str, ...],
    updated: tuple[str, ...],
) -> None:
    """The child's loop: upsert each batch received and acknowledge it; b"" stops."""
    from loadbay.bootstrap import tune_garbage_collector
    from loadbay.db.engine import make_engine
    from loadbay.sinks.sql_table import SqlTarget

    tune_garbage_collector()
    engine = make_engine(target_url)
    sink = SqlTarget(engine).sink(dataset)
    try:
        while message := connection.recv_bytes():
            batch = int.from_bytes(message[:8], "big")
            try:
                rows = pl.read_ipc(io.BytesIO(message[8:])).rows()
                sink.upsert(columns, updated, rows)
            except Exception:
                connection.send(traceback.format_exc())
                return
            connection.send(batch)
    except EOFError:
        pass  # the importer went away: nothing left to do
    finally:
        engine.dispose()
