"""The one composition root: settings in, wired services out.

Nothing else in loadbay builds engines, stores or executors; entry points call
:func:`build_services` and hand the result to the API app or the CLI.
"""

from __future__ import annotations

import csv
import gc
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from loadbay.config import Settings
from loadbay.datasets.registry import DatasetRegistry, load_registry
from loadbay.db.audit import AuditRepository
from loadbay.db.bucket_events import BucketEventRepository
from loadbay.db.engine import make_engine
from loadbay.db.jobs import JobRepository
from loadbay.db.migrate import upgrade_to_head
from loadbay.db.notifications import AttemptRepository
from loadbay.db.steps import StepRepository
from loadbay.db.uploads import UploadRepository
from loadbay.domain.jobs import JobKind
from loadbay.domain.principals import Principal
from loadbay.executors.base import Executor, open_executor
from loadbay.executors.celery_broker import transport_options
from loadbay.exports.flow import ExportFlow, ExportSettings
from loadbay.observability import Metrics, Readiness, service_readiness
from loadbay.observability.collectors import job_counts
from loadbay.observability.queues import celery_queue_depth
from loadbay.pipeline.import_context import ImportDeps, ImportSettings
from loadbay.pipeline.import_flow import ImportFlow
from loadbay.pipeline.records import CsvLimits
from loadbay.pipeline.runner import RetryPolicy, StepRunner
from loadbay.pipeline.scanning import ScanPolicy, ScanStage
from loadbay.scanners import Scanner, open_scanner
from loadbay.security.keys import KeyRing, load_or_create_secret
from loadbay.security.links import LinkSigner
from loadbay.security.tokens import TokenGrant, TokenTable, load_or_create_admin_token
from loadbay.services.audit import AuditService
from loadbay.services.bucket_events import BucketEventService
from loadbay.services.exports import ExportService
from loadbay.services.imports import ImportService
from loadbay.services.jobs import JobService
from loadbay.services.notifications import NotificationService
from loadbay.services.periodic import Periodic
from loadbay.services.recovery import StepRecovery
from loadbay.services.retention import ExportRetention
from loadbay.services.uploads import UploadService
from loadbay.sinks.sql_table import SqlTarget
from loadbay.storage.registry import StoreRegistry, open_store

log = logging.getLogger(__name__)


@dataclass
class Services:
    """Everything the entry points use, built from one :class:`Settings`."""

    settings: Settings
    engine: Engine
    target_engine: Engine
    datasets: DatasetRegistry
    stores: StoreRegistry
    keys: KeyRing
    tokens: TokenTable
    imports: ImportService
    exports: ExportService
    retention: ExportRetention
    jobs: JobService
    audit: AuditService
    notifications: NotificationService
    uploads: UploadService
    executor: Executor
    runner: StepRunner
    recovery: StepRecovery
    step_repository: StepRepository
    job_repository: JobRepository
    stopping: threading.Event
    bucket_events: BucketEventService
    metrics: Metrics
    readiness: Readiness
    scanning: bool = False
    housekeeping: list[Periodic] = field(default_factory=list)
    generated_token: TokenGrant | None = None
    generated_token_is_new: bool = False
    started: bool = field(default=False)

    def start(self) -> None:
        """Start the workers and the recovery sweep, which resumes every job a stopped
        process left unfinished."""
        if self.started:
            return
        self.notifications.start()
        self.executor.start()
        if self.executor.runs_steps_here:
            # Every step is run by this process, and none runs yet: what a stopped
            # process left running, or had queued in memory, is due again now.
            self.step_repository.expire_leases("")
            self.step_repository.unsend_waiting()
        self.housekeeping = [
            Periodic("upload-expiry", 60, self.uploads.expire_overdue, self.stopping),
            Periodic(
                "export-retention",
                self.settings.exports.sweep_interval_seconds,
                self.retention.sweep,
                self.stopping,
            ),
            Periodic(
                "step-recovery",
                self.settings.executor.sweep_interval_seconds,
                self.recovery.sweep,
                self.stopping,
            ),
        ]
        for task in self.housekeeping:
            task.start()
        self.started = True

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        self.stopping.set()
        for task in self.housekeeping:
            task.join()
        self.executor.shutdown()
        self.notifications.stop()
        self.engine.dispose()
        self.target_engine.dispose()


def tune_garbage_collector() -> None:
    """Make the collector cheap for a process that imports rows.

    An import allocates millions of short-lived containers (rows, value lists); with
    CPython's default thresholds young collections keep rescanning each batch and the
    long-lived startup objects, which cost about a third of import time in
    ``make bench``. Called by the entry points once everything is loaded.
    """
    gc.collect()
    gc.freeze()  # startup objects (modules, app, settings) are never scanned again
    gc.set_threshold(100_000, 50, 1_000)


def _secrets(settings: Settings) -> list[str]:
    configured = settings.security.secret_key
    keys = [configured] if isinstance(configured, str) else list(configured)
    keys = [k for k in keys if k]
    return keys or [load_or_create_secret(settings.data_dir / "secret_key")]


def _tokens(settings: Settings) -> tuple[TokenTable, TokenGrant | None, bool]:
    grants = [
        TokenGrant(t.token, Principal(t.user, t.tenant, frozenset(t.roles)))
        for t in settings.auth.tokens
    ]
    if grants:
        return TokenTable(grants), None, False
    grant, created = load_or_create_admin_token(settings.data_dir / "admin_token")
    return TokenTable([grant]), grant, created


def build_services(
    settings: Settings,
    executor_backend: str | None = None,
    scanner: Scanner | Literal["configured"] | None = "configured",
) -> Services:
    """Wire every part named by ``settings``; migrate the service database first.

    ``executor_backend`` and ``scanner`` replace the configured ones (tests use this to
    run jobs by hand and to script scan verdicts)."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    upgrade_to_head(engine)
    target_engine = make_engine(settings.target_url)
    datasets = load_registry(Path(settings.datasets.dir) if settings.datasets.dir else None)
    stores = StoreRegistry(
        {
            name: open_store(name, settings.store_url(name), settings.store_options(name))
            for name in settings.store_names
        }
    )
    keys = KeyRing(_secrets(settings))
    tokens, grant, created = _tokens(settings)
    jobs = JobRepository(engine)
    audit = AuditService(AuditRepository(engine))
    stopping = threading.Event()
    notifications = NotificationService(
        settings.notifications,
        jobs,
        AttemptRepository(engine),
        {t.user: t.email for t in settings.auth.tokens if t.email},
        settings.public_url,
    )
    limits = settings.limits
    csv.field_size_limit(limits.max_field_chars)
    scanner_settings = settings.scanner
    if scanner == "configured":
        scanner = open_scanner(
            scanner_settings.backend,
            scanner_settings.url,
            timeout=scanner_settings.timeout_seconds,
        )
    backend = executor_backend or settings.executor.backend
    metrics = _build_metrics(settings, engine, backend)
    scan_stage = ScanStage(
        scanner,
        ScanPolicy(
            required=scanner_settings.required,
            allow_too_large=scanner_settings.allow_too_large,
            unavailable_timeout=scanner_settings.unavailable_timeout_seconds,
            first_retry_delay=min(1.0, scanner_settings.retry_max_delay_seconds),
            max_retry_delay=scanner_settings.retry_max_delay_seconds,
        ),
        jobs,
        stores,
        keys,
        audit,
        stopping,
        alert=notifications.admin_alert,
        on_verdict=metrics.scan_verdict,
    )
    steps = StepRepository(engine, settings.executor.lease_seconds, settings.executor.max_attempts)
    target = SqlTarget(target_engine)
    runner, executor, recovery = _build_runner(
        settings,
        executor_backend,
        metrics,
        ImportDeps(
            jobs=jobs,
            steps=steps,
            stores=stores,
            keys=keys,
            datasets=datasets,
            target=target,
            settings=ImportSettings(
                scratch_dir=data_dir / "work",
                csv_limits=CsvLimits(
                    max_field_chars=limits.max_field_chars,
                    max_line_chars=max(limits.max_field_chars * 8, 1_048_576),
                    max_columns=limits.max_columns,
                ),
                batch_rows=settings.executor.batch_rows,
                chunk_bytes=settings.executor.chunk_size(target_engine.dialect.name == "sqlite"),
            ),
            today=lambda: datetime.now(UTC).date(),
        ),
        scan_stage,
        ExportFlow(
            jobs,
            datasets,
            target,
            stores,
            keys,
            ExportSettings(
                scratch_dir=data_dir / "work",
                ttl=timedelta(hours=settings.exports.ttl_hours),
                batch_rows=settings.exports.batch_rows,
            ),
        ),
        notifications,
        stopping,
    )
    imports = ImportService(
        jobs, stores["incoming"], keys, datasets, runner.start, limits.max_upload_bytes, audit
    )
    return Services(
        settings=settings,
        engine=engine,
        target_engine=target_engine,
        datasets=datasets,
        stores=stores,
        keys=keys,
        tokens=tokens,
        imports=imports,
        exports=ExportService(jobs, datasets, audit, runner.start, tokens.users_of),
        retention=ExportRetention(jobs, stores, keys, audit),
        uploads=UploadService(
            UploadRepository(engine),
            stores["incoming"],
            stores,
            keys,
            imports,
            settings.uploads.ttl_seconds,
        ),
        jobs=JobService(
            jobs,
            stores,
            keys,
            LinkSigner(keys, settings.public_url),
            limits.link_ttl_seconds,
            limits.link_ttl_max_seconds,
            audit,
            notifications.job_ended,
        ),
        audit=audit,
        notifications=notifications,
        executor=executor,
        runner=runner,
        recovery=recovery,
        step_repository=steps,
        job_repository=jobs,
        stopping=stopping,
        bucket_events=BucketEventService(
            settings.events, stores, settings.store_names, imports, BucketEventRepository(engine)
        ),
        metrics=metrics,
        readiness=_build_readiness(settings, engine, stores, backend),
        scanning=scanner is not None,
        generated_token=grant,
        generated_token_is_new=created,
    )


def _build_runner(
    settings: Settings,
    executor_backend: str | None,
    metrics: Metrics,
    imports: ImportDeps,
    scan_stage: ScanStage,
    exports: ExportFlow,
    notifications: NotificationService,
    stopping: threading.Event,
) -> tuple[StepRunner, Executor, StepRecovery]:
    """The step runner, the executor that carries its steps, and the recovery sweep.

    The runner sends the steps that become ready through the executor, and the executor
    hands each step it carries back to the runner: the send is bound once both exist."""
    config = settings.executor
    executor: Executor | None = None

    def send(job_id: str, step: str) -> None:
        assert executor is not None
        executor.submit(job_id, step)

    runner = StepRunner(
        imports.jobs,
        imports.steps,
        {JobKind.IMPORT: ImportFlow(imports, scan_stage), JobKind.EXPORT: exports},
        notifications,
        stopping,
        send,
        config.lease_seconds,
        RetryPolicy(first_delay=config.retry_delay_seconds),
        metrics,
    )
    executor = open_executor(
        executor_backend or config.backend,
        runner.run,
        config.concurrency,
        config.broker_url,
        config.queue,
        config.broker_options,
        config.lease_seconds,
    )
    recovery = StepRecovery(
        imports.jobs,
        imports.steps,
        runner,
        send,
        config.redeliver_after_seconds,
        (JobKind.IMPORT, JobKind.EXPORT),
    )
    return runner, executor, recovery


def _build_metrics(settings: Settings, engine: Engine, backend: str) -> Metrics:
    """The process's metrics; the jobs and the queue are read at scrape time."""
    metrics = Metrics()
    metrics.watch_jobs(lambda: job_counts(engine))
    executor = settings.executor
    if backend == "celery" and executor.broker_url:
        broker, queue = executor.broker_url, executor.queue
        options = _transport_options(settings)
        metrics.watch_queue(queue, lambda: celery_queue_depth(broker, queue, options=options))
    return metrics


def _transport_options(settings: Settings) -> dict[str, Any]:
    """The broker transport options the workers use (what the probes must use too)."""
    config = settings.executor
    return transport_options(
        config.broker_url, config.broker_options, config.lease_seconds, config.queue
    )


def _build_readiness(
    settings: Settings, engine: Engine, stores: StoreRegistry, backend: str
) -> Readiness:
    """``/readyz``: the service database, the broker (Celery) and every store."""
    named = {name: stores[name] for name in settings.store_names}
    if backend != "celery":
        return service_readiness(engine, named)
    broker = (settings.executor.broker_url, settings.executor.queue)
    return service_readiness(engine, named, broker, broker_options=_transport_options(settings))
