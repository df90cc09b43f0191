"""Repeated keys are found across batches and hash partitions, with their first row."""

from __future__ import annotations

import io
import random
from datetime import date
from pathlib import Path

import pytest

from loadbay.datasets import load_registry
from loadbay.domain.rows import resolve_header
from loadbay.pipeline.batches import CsvBatches, write_batches
from loadbay.pipeline.duplicates import FIRST, KeyColumn, repeated_keys
from loadbay.pipeline.records import CsvLimits
from loadbay.pipeline.text import DecodedLines


def batches_of(data: bytes, folder: Path, batch_rows: int) -> tuple[list[Path], int]:
    dataset = load_registry(None).get("location")
    assert dataset is not None
    parsed = CsvBatches(DecodedLines(io.BytesIO(data), 1 << 20), CsvLimits(), batch_rows)
    header = resolve_header(dataset, parsed.header)
    return write_batches(parsed.frames(), folder, KeyColumn(dataset, header, date(2026, 1, 1)))


@pytest.mark.parametrize(
    ("batch_rows", "per_partition", "spread_rows"),
    [(1000, 1000, 1000), (7, 10, 1), (50, 3, 120), (7, 50, 1000)],
)
def test_every_repeated_key_and_its_first_row(
    tmp_path: Path, batch_rows: int, per_partition: int, spread_rows: int
) -> None:
    rng = random.Random(batch_rows)
    keys = [f"L{rng.randint(0, 60)}" for _ in range(300)]
    lines = ["Location Code,Location Name,Location Type"]
    lines += [f"{' ' if i % 7 == 0 else ''}{k},N,state" for i, k in enumerate(keys)]
    paths, rows = batches_of("\n".join(lines).encode(), tmp_path, batch_rows)
    assert rows == 300
    found = repeated_keys(
        paths, rows, tmp_path / "scratch", keys_per_partition=per_partition, spread_rows=spread_rows
    )
    expected: dict[str, int] = {}
    for index, key in enumerate(keys):
        expected.setdefault(key, index + 2)  # row 1 is the header
    repeated = {k: first for k, first in expected.items() if keys.count(k) > 1}
    assert dict(zip(found["key"].to_list(), found[FIRST].to_list(), strict=True)) == repeated


def test_invalid_keys_and_ragged_rows_are_not_keys(tmp_path: Path) -> None:
    long_key = "x" * 65  # over the location code's 64 characters
    data = (
        "Location Code,Location Name,Location Type\n"
        f"{long_key},A,state\n{long_key},B,state\n"
        "bad code,C,state\nbad code,D,state\n"
        "L1,E\nL1,F,state\n"
        ",G,state\n,H,state\n"
    ).encode()
    paths, rows = batches_of(data, tmp_path, 3)
    assert rows == 8
    assert repeated_keys(paths, rows, tmp_path).height == 0
