"""The steps of an import, and the ones that see the whole file.

    scan ─► split ─► parse/00000 ┐         decide/00000 ┐
                     parse/00001 ├─► index ─► decide/00001 ├─► finalize
                     ...         ┘         ...          ┘

``scan`` is the malware gate. ``split`` reads the header and cuts the file into chunks
at record boundaries (one chunk unless it is larger than ``chunk_bytes``). Each chunk
is parsed and then decided by whichever worker claims it (``chunk_steps.py``). ``index``
sees every chunk's keys: the keys that repeat in the file, the first row of every
referenced key, and the row count for progress. ``finalize`` settles the rows that
waited on an earlier chunk and assembles one report, all successes then all failures,
each in upload order, with the exact counts.

If a chunk could not be parsed, the cut may have landed inside a quoted field (see
``split.py``): ``index`` then replaces the chunks by one chunk of the whole file, whose
parse gives the file's real verdict.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from loadbay.domain.errors import JobCancelled, NoDataRows
from loadbay.domain.jobs import Counts, Job, JobStatus, Progress
from loadbay.domain.steps import (
    ImportPhase,
    NewStep,
    Step,
    StepResult,
    chunk_index,
    chunk_step,
    single_step,
)
from loadbay.pipeline import chunk_steps
from loadbay.pipeline.batches import KEY, ROW
from loadbay.pipeline.chunk_report import CSV, FAILURES, ROWS, SUCCESSES, Segment
from loadbay.pipeline.chunk_steps import FIRST_ROWS, REPEATED, keys_name, outcomes_name
from loadbay.pipeline.duplicates import repeated_keys
from loadbay.pipeline.import_context import ImportDeps, Layout
from loadbay.pipeline.pending import PendingResolver
from loadbay.pipeline.report import ReportWriter, copy_stream, report_header
from loadbay.pipeline.runner import Attempt, StepInterrupted, StepOutcome
from loadbay.pipeline.scanning import Interrupted, ScanStage
from loadbay.pipeline.self_references import ref_column, self_reference_columns
from loadbay.pipeline.split import Chunk, find_chunks, read_header, whole_file
from loadbay.pipeline.work_area import WorkArea

log = logging.getLogger(__name__)


def chunk_steps_for(chunks: list[Chunk]) -> list[NewStep]:
    specs = [chunk.to_json() for chunk in chunks]
    return [
        *(
            NewStep(chunk_step(ImportPhase.PARSE, i), ImportPhase.PARSE, s)
            for i, s in enumerate(specs)
        ),
        NewStep(single_step(ImportPhase.INDEX), ImportPhase.INDEX),
        *(
            NewStep(chunk_step(ImportPhase.DECIDE, i), ImportPhase.DECIDE, s)
            for i, s in enumerate(specs)
        ),
        NewStep(single_step(ImportPhase.FINALIZE), ImportPhase.FINALIZE),
    ]


class ImportFlow:
    """The :class:`~loadbay.pipeline.runner.Flow` of import jobs."""

    def __init__(self, deps: ImportDeps, scan: ScanStage) -> None:
        self._deps = deps
        self._scan = scan

    def first_steps(self, job: Job) -> list[NewStep]:
        return [
            NewStep(single_step(ImportPhase.SCAN), ImportPhase.SCAN),
            NewStep(single_step(ImportPhase.SPLIT), ImportPhase.SPLIT),
        ]

    def run(self, job: Job, step: Step, attempt: Attempt) -> StepOutcome:
        phase = ImportPhase(step.phase)
        with self._scratch(job, step) as scratch:
            if phase is ImportPhase.SCAN:
                return self._scan_step(job)
            if phase is ImportPhase.SPLIT:
                return self._split(job)
            if phase is ImportPhase.PARSE:
                return chunk_steps.parse(self._deps, job, step, attempt, scratch)
            if phase is ImportPhase.INDEX:
                return self._index(job, scratch)
            if phase is ImportPhase.DECIDE:
                return chunk_steps.decide(self._deps, job, step, attempt, scratch)
            return self._finalize(job, scratch)

    def describe(self, step: Step) -> str:
        phase = ImportPhase(step.phase)
        if phase in (ImportPhase.PARSE, ImportPhase.DECIDE):
            chunk = Chunk.from_json(step.spec)
            what = "Reading" if phase is ImportPhase.PARSE else "Importing"
            where = (
                "the file"
                if chunk.whole
                else f"chunk {chunk_index(step.name) + 1} (from row {chunk.first_row})"
            )
            return f"{what} {where}"
        return {
            ImportPhase.SCAN: "The malware scan",
            ImportPhase.SPLIT: "Reading the header",
            ImportPhase.INDEX: "Finding repeated keys",
            ImportPhase.FINALIZE: "Writing the report",
        }[phase]

    def cleanup(self, job: Job) -> None:
        self._deps.work(job, self._deps.settings.scratch_dir).delete_under("")

    @contextmanager
    def _scratch(self, job: Job, step: Step) -> Iterator[Path]:
        folder = self._deps.settings.scratch_dir / job.id / f"{step.name}.{step.attempts}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # --- the steps that see the whole file -----------------------------------------------

    def _scan_step(self, job: Job) -> StepOutcome:
        jobs = self._deps.jobs
        current = jobs.get(job.id)
        if current is None or current.status.ended:
            raise JobCancelled(job.id)
        if current.status is JobStatus.PROCESSING:
            return StepOutcome()  # scanned by an earlier attempt
        if not jobs.start_attempt(job.id, JobStatus.SCANNING):
            raise JobCancelled(job.id)
        try:
            passed = self._scan.run(current)
        except Interrupted as stop:
            raise StepInterrupted(job.id) from stop
        if not passed:
            return StepOutcome(job_ended=True)  # quarantined
        if not jobs.transition(job.id, JobStatus.PROCESSING):
            raise JobCancelled(job.id)
        return StepOutcome()

    def _split(self, job: Job) -> StepOutcome:
        deps = self._deps
        dataset = deps.dataset(job.dataset)
        store, key = deps.source(job)
        size = store.size(key)
        with store.open_read(key) as binary:
            header = read_header(binary, dataset, deps.settings.csv_limits)
        with store.open_read(key, header.data_start) as data:
            chunks = find_chunks(data, header, size, deps.settings.chunk_bytes)
        layout = Layout(header.cells, header.delimiter, deps.today())
        log.info("job %s: %d bytes in %d chunk(s)", job.id, size, len(chunks))
        return StepOutcome(StepResult(layout.to_json()), chunk_steps_for(chunks))

    def _index(self, job: Job, scratch: Path) -> StepOutcome:
        deps = self._deps
        parsed = deps.steps.of_job(job.id, ImportPhase.PARSE)
        work = deps.work(job, scratch)
        failed = [s for s in parsed if s.result and "failure" in s.result]
        if failed:
            log.warning(
                "job %s: chunk %s could not be parsed (%s); parsing the file as one chunk",
                job.id,
                failed[0].name,
                failed[0].result["failure"]["message"] if failed[0].result else "",
            )
            for step in parsed:
                work.delete_under(chunk_steps.chunk_folder(chunk_index(step.name)))
            return StepOutcome(
                new_steps=chunk_steps_for(whole_file()), replace_from_phase=ImportPhase.PARSE
            )
        results = [s.result or {} for s in parsed]
        rows = sum(int(r["rows"]) for r in results)
        if rows == 0:
            raise NoDataRows("The file has a header row but no data rows")
        deps.store_progress(job, Progress(0, rows), Counts())
        keys = [
            work.local(keys_name(chunk_index(s.name), n))
            for s, r in zip(parsed, results, strict=True)
            for n in range(int(r["batches"]))
        ]
        work.put_frame(REPEATED, repeated_keys(keys, rows, scratch))
        dataset = deps.dataset(job.dataset)
        columns = self_reference_columns(dataset, deps.header(dataset, deps.layout(job)))
        if columns:
            work.put_frame(FIRST_ROWS, _first_rows(keys, [c.key for c in columns]))
        return StepOutcome(StepResult({"rows": rows}))

    def _finalize(self, job: Job, scratch: Path) -> StepOutcome:
        deps = self._deps
        dataset = deps.dataset(job.dataset)
        header = deps.header(dataset, deps.layout(job))
        work = deps.work(job, scratch)
        decided = deps.steps.of_job(job.id, ImportPhase.DECIDE)
        parts, counts = self._settle(job, decided, work, scratch)
        results = deps.stores["results"]
        result_key = f"{job.id}/{job.result_file_name()}"
        with results.open_write(result_key) as writer:
            writer.write(report_header(header.labels))
            for column in (0, 1):  # every chunk's successes, then every chunk's failures
                for part in parts:
                    source = part[column]
                    if isinstance(source, Path):
                        with source.open("rb") as handle:
                            copy_stream(handle, writer)
                    else:
                        work.copy_to(source, writer)
        result_ref = deps.keys.encrypt(results.ref(result_key).to_json())
        rows = counts.success + counts.failure
        if not deps.jobs.complete(job.id, Progress(rows, rows), counts, result_ref):
            if deps.jobs.is_completed(job.id):
                # An attempt that lost its lease completed it with the same report (the
                # same key, the same bytes): leave it, and end the job here.
                return StepOutcome(job_ended=True)
            results.delete(result_key)  # cancelled at the last moment: serve nothing
            raise JobCancelled(job.id)
        # The rows decided here: those that waited on another chunk.
        settled = StepResult(
            success=counts.success - sum(s.success for s in decided),
            failure=counts.failure - sum(s.failure for s in decided),
        )
        return StepOutcome(settled, job_ended=True)

    def _settle(
        self, job: Job, decided: list[Step], work: WorkArea, scratch: Path
    ) -> tuple[list[tuple[Path | str, Path | str]], Counts]:
        """The report's parts in order, as (successes, failures) work files or local
        files, with the final counts: pending segments are settled on the way."""
        deps = self._deps
        dataset = deps.dataset(job.dataset)
        layout = deps.layout(job)
        header = deps.header(dataset, layout)
        success = sum(s.success for s in decided)
        failure = sum(s.failure for s in decided)
        parts: list[tuple[Path | str, Path | str]] = []
        resolver: PendingResolver | None = None
        for step in decided:
            index = chunk_index(step.name)
            for data in (step.result or {})["segments"]:
                segment = Segment.from_json(data)
                if segment.kind == CSV:
                    parts.append(
                        (
                            chunk_steps.report_name(index, segment.folder, SUCCESSES),
                            chunk_steps.report_name(index, segment.folder, FAILURES),
                        )
                    )
                    continue
                if resolver is None:
                    sink = deps.target.sink(dataset)
                    outcomes = _outcomes(work, decided)
                    resolver = PendingResolver(dataset, header, layout.today, sink, outcomes)
                rendered = ReportWriter(scratch / f"{index:05d}-{segment.folder}", header.labels)
                frame = work.frame(chunk_steps.report_name(index, segment.folder, ROWS))
                settled = resolver.settle(frame, rendered)
                rendered.close()
                success += settled.success
                failure += settled.failure
                parts.append(rendered.paths)
        return parts, Counts(success, failure)


def _first_rows(keys: list[Path], columns: list[str]) -> pl.DataFrame:
    """Each value a self-reference names that is a key in the file, with the first row
    holding that key."""
    scan = pl.scan_ipc(keys)
    values = (
        pl.concat([scan.select(pl.col(ref_column(c)).alias("value")) for c in columns])
        .drop_nulls()
        .unique()
    )
    # Only the keys some row names are grouped: memory goes with the referenced keys
    # (a hierarchy's parents), not with the file.
    return (
        scan.select(ROW, KEY)
        .drop_nulls(KEY)
        .join(values, left_on=KEY, right_on="value", how="semi")
        .group_by(KEY)
        .agg(pl.col(ROW).min().alias("first_row"))
        .select(pl.col(KEY).alias("value"), "first_row")
        .collect(engine="streaming")
    )


def _outcomes(work: WorkArea, decided: list[Step]) -> dict[str, str]:
    """Every chunk's outcomes for its rows that hold a referenced key."""
    found: dict[str, str] = {}
    for step in decided:
        frame = work.frame(outcomes_name(chunk_index(step.name)))
        found.update(zip(frame["key"].to_list(), frame["outcome"].to_list(), strict=True))
    return found
