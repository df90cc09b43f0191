"""The two steps every chunk of an import goes through, on any worker.

``parse``: read the chunk's byte range once, check it is well-formed CSV, and store its
records as columnar batches with each row's key (and self-references) in the work
store. Nothing is written to the target yet: a bad file never leaves a partial import.

``decide``: check every row of the chunk's batches, write the valid ones, and store the
chunk's part of the report. Both may run twice (a worker dies, a lease is lost):
parsing starts again from the range, and the target is written by upsert.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loadbay.domain.errors import MalformedCsv, UnreadableFile
from loadbay.domain.jobs import Counts, Job, Progress
from loadbay.domain.steps import (
    ImportPhase,
    Step,
    StepResult,
    chunk_index,
    chunk_step,
    single_step,
)
from loadbay.pipeline.batches import KEY, ROW, CsvBatches
from loadbay.pipeline.chunk_report import ChunkReport
from loadbay.pipeline.duplicates import KeyColumn
from loadbay.pipeline.import_context import ImportDeps, Throttle, record_bytes
from loadbay.pipeline.importer import RowImporter
from loadbay.pipeline.runner import Attempt, StepOutcome
from loadbay.pipeline.self_references import (
    SelfReferences,
    SelfReferenceValues,
    ref_column,
    self_reference_columns,
)
from loadbay.pipeline.sink_writer import SinkWriter
from loadbay.pipeline.split import Chunk
from loadbay.pipeline.text import DecodedLines

FIRST_ROWS = "index/first_rows.arrow"
REPEATED = "index/repeated.arrow"


def chunk_folder(index: int) -> str:
    return f"chunk-{index:05d}/"


def batch_name(index: int, batch: int) -> str:
    return f"{chunk_folder(index)}batch-{batch:06d}.arrow"


def keys_name(index: int, batch: int) -> str:
    return f"{chunk_folder(index)}keys-{batch:06d}.arrow"


def outcomes_name(index: int) -> str:
    return f"{chunk_folder(index)}outcomes.arrow"


def report_name(index: int, segment_folder: str, file: str) -> str:
    return f"{chunk_folder(index)}report/{segment_folder}/{file}"


def parse(deps: ImportDeps, job: Job, step: Step, attempt: Attempt, scratch: Path) -> StepOutcome:
    dataset = deps.dataset(job.dataset)
    layout = deps.layout(job)
    header = deps.header(dataset, layout)
    chunk = Chunk.from_json(step.spec)
    index = chunk_index(step.name)
    work = deps.work(job, scratch)
    work.delete_under(chunk_folder(index))  # what an earlier attempt left
    key_column = KeyColumn(dataset, header, layout.today)
    references = SelfReferenceValues(dataset, header, layout.today, deps.target.sink(dataset))
    kept = [ROW, KEY, *(ref_column(c.key) for c in references.columns)]
    store, key = deps.source(job)
    limits = deps.settings.csv_limits
    rows = batches = 0
    often = Throttle()
    try:
        with store.open_read(key, chunk.start, chunk.end) as binary:
            if chunk.whole:
                lines = DecodedLines(binary, limits.max_line_chars)
                records = CsvBatches(lines, limits, deps.settings.batch_rows)
            else:
                lines = DecodedLines(
                    binary, limits.max_line_chars, encoding="utf-8", lines_before=chunk.lines_before
                )
                records = CsvBatches.continuing(
                    lines,
                    limits,
                    deps.settings.batch_rows,
                    delimiter=layout.delimiter,
                    width=header.width,
                    next_row=chunk.first_row,
                )
            for frame in records.frames():
                annotated = references(key_column(frame))
                work.put_frame(batch_name(index, batches), annotated)
                work.put_frame(keys_name(index, batches), annotated.select(kept))
                rows += frame.height
                batches += 1
                if often():
                    record_bytes(deps, job, attempt, lines.bytes_read)
    except (MalformedCsv, UnreadableFile) as failure:
        if chunk.whole:
            raise
        # A cut may have landed inside a quoted field: the index step decides.
        return StepOutcome(
            StepResult({"failure": {"code": failure.code, "message": failure.message}})
        )
    record_bytes(deps, job, attempt, lines.bytes_read)
    return StepOutcome(StepResult({"rows": rows, "batches": batches}))


def decide(deps: ImportDeps, job: Job, step: Step, attempt: Attempt, scratch: Path) -> StepOutcome:
    dataset = deps.dataset(job.dataset)
    layout = deps.layout(job)
    header = deps.header(dataset, layout)
    chunk = Chunk.from_json(step.spec)
    index = chunk_index(step.name)
    work = deps.work(job, scratch)
    parsed = deps.result_of(job, chunk_step(ImportPhase.PARSE, index))
    total = int(deps.result_of(job, single_step(ImportPhase.INDEX))["rows"])
    columns = self_reference_columns(dataset, header)
    self_references = None
    if columns:
        first = work.frame(FIRST_ROWS)
        first_rows = dict(zip(first["value"].to_list(), first["first_row"].to_list(), strict=True))
        self_references = SelfReferences(columns, first_rows, 0 if chunk.whole else chunk.first_row)
    report = ChunkReport(scratch / "report", header.labels)
    importer = RowImporter(
        dataset,
        header,
        lambda name: deps.target.sink(deps.dataset(name)),
        work.frame(REPEATED),
        report,
        layout.today,
        self_references,
    )

    often = Throttle()
    chunk_rows = int(parsed["rows"])

    def on_batch(processed: int, counts: Counts) -> None:
        # Progress is written twice a second and at the end, not per batch: each write
        # is a commit (an fsync on SQLite), and per batch they took a third of the
        # step's time. A cancel is still seen at the next batch.
        attempt.check()
        if processed < chunk_rows and not often():
            deps.check_running(job)
            return
        attempt.record(processed, counts.success, counts.failure)
        rows, success, failure = deps.steps.totals(job.id, ImportPhase.DECIDE)
        deps.store_progress(job, Progress(rows, total), Counts(success, failure))

    names = [batch_name(index, n) for n in range(parsed["batches"])]
    writer = SinkWriter(deps.target.sink(dataset), importer.columns, importer.updated_columns)
    try:
        counts = importer.run(work.frames(names), writer, on_batch)
    finally:
        writer.close()
        segments = report.close()  # on failure too: no file is left open
    for segment in segments:
        for file in segment.files:
            path = scratch / "report" / segment.folder / file
            work.put_file(report_name(index, segment.folder, file), path)
    if self_references is not None:
        outcomes = self_references.outcomes
        work.put_frame(
            outcomes_name(index),
            pl.DataFrame(
                {"key": list(outcomes), "outcome": list(outcomes.values())},
                schema={"key": pl.String, "outcome": pl.String},
            ),
        )
    return StepOutcome(
        StepResult(
            {"segments": [s.to_json() for s in segments], "pending": counts.pending},
            counts.success,
            counts.failure,
        )
    )
