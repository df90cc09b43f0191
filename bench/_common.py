"""What the benchmarks share: the data folder and seeded random input files."""

from __future__ import annotations

import random
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / ".data"
MIB = 1024 * 1024


class BenchError(RuntimeError):
    """Something broke: the run is not a measurement."""


def random_file(name: str, size_mib: int) -> Path:
    """``size_mib`` MiB of seeded random bytes in ``bench/.data/<name>_<size>mib.bin``,
    written once and then reused."""
    path = DATA_DIR / f"{name}_{size_mib}mib.bin"
    if path.exists() and path.stat().st_size == size_mib * MIB:
        return path
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ...", flush=True)
    partial = path.with_suffix(".partial")
    rng = random.Random(20261122)
    with partial.open("wb") as f:
        for _ in range(size_mib):
            f.write(rng.randbytes(MIB))
    partial.replace(path)
    return path
