"""Keys that repeat within a file, found before any row is imported.

A key's first row in the file wins and every later row with it fails, whatever batch
it falls in. The inspect pass stores each row's key (as the dataset's key column
validates it) in the batch files; :func:`repeated_keys` then groups them. Keys are
grouped in hash partitions of bounded size (one pass spreads them over partition
files), so a grouping holds one partition's keys however long the file; what is kept
is only the keys that do repeat, with their first row. (The process's RSS still grows
with the file: some 270 MiB of anonymous memory at 10M keys, as before the partitions
were files, and not returned with jemalloc's decay at 0; where it goes is not yet
pinned down.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow.ipc as ipc

from loadbay.domain.datasets import Dataset
from loadbay.domain.rows import HeaderMap
from loadbay.pipeline.batches import KEY, ROW, WIDTH, cell_column
from loadbay.pipeline.columnar_rules import ColumnarValidator

FIRST = "first_row"
_KEYS_PER_PARTITION = 100_000
_PART = "partition"
_SPREAD_ROWS = 200_000
_EMPTY = pl.DataFrame(schema={KEY: pl.String, FIRST: pl.Int64})


class KeyColumn:
    """Computes the ``key`` column of a batch: the validated key, as text, or null."""

    def __init__(self, dataset: Dataset, header: HeaderMap, today: date) -> None:
        key_only = replace(dataset, columns=(dataset.key_column,), row_rules=())
        self._validator = ColumnarValidator(key_only, header, today)
        self._key = dataset.key
        self._width = header.width
        self._cells = [cell_column(i) for i in range(header.width)]

    def __call__(self, frame: pl.DataFrame) -> pl.DataFrame:
        checked = self._validator.check(frame.select(self._cells))
        valid = checked["ok"] & (frame[WIDTH] == self._width)
        key = checked[self._key]
        if key.dtype == pl.Object:  # integers beyond 64 bits
            key = pl.Series(KEY, [None if v is None else str(v) for v in key], pl.String)
        text = key.cast(pl.String)
        return frame.with_columns(pl.when(valid).then(text).otherwise(None).alias(KEY))


def repeated_keys(
    batches: Sequence[Path],
    rows: int,
    scratch: Path,
    keys_per_partition: int = _KEYS_PER_PARTITION,
    spread_rows: int = _SPREAD_ROWS,
) -> pl.DataFrame:
    """Each key found on more than one row, with the first row it is on.

    A file of more than ``keys_per_partition`` rows is read once, its keys spread over
    hash partitions written to ``scratch``; each partition is then grouped on its own."""
    partitions = max(1, -(-rows // keys_per_partition))
    if partitions == 1:
        return _repeated(pl.scan_ipc(list(batches)))
    folder = scratch / "key-partitions"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{part:05d}.arrow" for part in range(partitions)]
    writers: dict[int, ipc.RecordBatchFileWriter] = {}
    try:
        for keys in _key_groups(batches, spread_rows):
            hashed = keys.with_columns((pl.col(KEY).hash(seed=7) % partitions).alias(_PART))
            for (part,), piece in hashed.partition_by(_PART, as_dict=True).items():
                table = piece.drop(_PART).to_arrow()
                if part not in writers:
                    writers[part] = ipc.new_file(paths[part], table.schema)
                writers[part].write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    found = [_repeated(pl.scan_ipc(paths[part])) for part in sorted(writers)]
    for path in paths:
        path.unlink(missing_ok=True)
    return pl.concat(found) if found else _EMPTY


def _key_groups(batches: Sequence[Path], spread_rows: int) -> Iterator[pl.DataFrame]:
    """The batches' keys, several batches at a time (``spread_rows`` rows or so): one
    batch of 20,000 rows spread over a hundred partitions makes tiny writes (10M keys:
    18 s batch by batch, 3.6 s in groups)."""
    group: list[pl.DataFrame] = []
    held = 0
    for batch in batches:
        keys = pl.read_ipc(batch, columns=[ROW, KEY]).filter(pl.col(KEY).is_not_null())
        group.append(keys)
        held += keys.height
        if held >= spread_rows:
            yield pl.concat(group)
            group, held = [], 0
    if group:
        yield pl.concat(group)


def _repeated(keys: pl.LazyFrame) -> pl.DataFrame:
    return (
        keys.select(ROW, KEY)
        .filter(pl.col(KEY).is_not_null())
        .group_by(KEY)
        .agg(pl.col(ROW).min().alias(FIRST), pl.len().alias("rows"))
        .filter(pl.col("rows") > 1)
        .select(KEY, FIRST)
        .collect()
    )
