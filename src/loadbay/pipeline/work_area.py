"""A job's intermediate files, in the ``work`` store that every worker shares.

Steps of one job may run on different hosts, so what a step hands to the next (parsed
batches, keys, report segments) lives in a store, under ``<job id>/``; each attempt
works in a local scratch folder of its own. On local disk the files are read where
they are; from an object store they are fetched into the scratch folder first.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

import polars as pl

from loadbay.storage.base import ObjectWriter, Store
from loadbay.storage.local import LocalStore

_COPY_CHUNK = 1 << 20


class WorkArea:
    """The work files of one job: ``key`` arguments are relative to ``<job id>/``."""

    def __init__(self, store: Store, job_id: str, scratch: Path) -> None:
        self._store = store
        self._prefix = f"{job_id}/"
        self.scratch = scratch
        # Arrow files are written uncompressed on local disk (read in place, memory
        # mapped) and with LZ4 when they cross a network.
        self._compression: Literal["uncompressed", "lz4"] = (
            "uncompressed" if isinstance(store, LocalStore) else "lz4"
        )

    def key(self, name: str) -> str:
        return self._prefix + name

    def put_frame(self, name: str, frame: pl.DataFrame) -> None:
        buffer = io.BytesIO()
        frame.write_ipc(buffer, compression=self._compression)
        with self._store.open_write(self.key(name)) as writer:
            writer.write(buffer.getvalue())

    def put_file(self, name: str, path: Path) -> None:
        with path.open("rb") as source, self._store.open_write(self.key(name)) as writer:
            while chunk := source.read(_COPY_CHUNK):
                writer.write(chunk)

    def frame(self, name: str) -> pl.DataFrame:
        return pl.read_ipc(self.local(name))

    def frames(self, names: Iterable[str]) -> Iterator[pl.DataFrame]:
        for name in names:
            yield self.frame(name)

    def local(self, name: str) -> Path:
        """A local path holding the file (in the store itself on local disk)."""
        if isinstance(self._store, LocalStore):
            return self._store.path(self.key(name))
        target = self.scratch / "fetched" / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".partial")
            with self._store.open_read(self.key(name)) as source, partial.open("wb") as out:
                shutil.copyfileobj(source, out, _COPY_CHUNK)
            partial.replace(target)
        return target

    def copy_to(self, name: str, writer: ObjectWriter) -> None:
        with self._store.open_read(self.key(name)) as source:
            while chunk := source.read(_COPY_CHUNK):
                writer.write(chunk)

    def delete_under(self, folder: str) -> None:
        """Remove the files under ``folder`` (``""``: all of the job's)."""
        for key in list(self._store.list_keys(self.key(folder) if folder else self._prefix)):
            self._store.delete(key)
