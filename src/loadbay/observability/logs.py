"""Logging for every entry point: plain text or one JSON object per line, each record
tagged with the job and step it was logged for.

>>> with job_context("01M8ABC", step="import"):
...     current_job()
('01M8ABC', 'import')
>>> current_job() is None
True

A JSON line (``configure_logging("json", "INFO")``)::

    {"time": "2026-11-22T06:00:01.123Z", "level": "INFO", "logger": "loadbay.pipeline",
     "message": "batch 3 committed", "job_id": "01M8ABC", "step": "import", "rows": 20000}

Extra fields (``log.info(..., extra={"rows": 20000})``) are keys of their own; an
exception's traceback is ``exception``. The context is a :mod:`contextvars` variable, so
it follows the code that runs in the block — not threads started inside it, which begin
with an empty context (wrap their work in ``job_context`` too).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

__all__ = [
    "JobContextFilter",
    "JsonLineFormatter",
    "TextFormatter",
    "configure_logging",
    "current_job",
    "job_context",
]

_job: ContextVar[tuple[str, str | None] | None] = ContextVar("loadbay_job", default=None)

# Loggers that some libraries configure with handlers of their own; they are made to
# hand their records to the root handler instead, so everything has one format.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "celery")


@contextmanager
def job_context(job_id: str, step: str | None = None) -> Iterator[None]:
    """Tag every record logged inside the block with ``job_id`` (and ``step``)."""
    token = _job.set((job_id, step))
    try:
        yield
    finally:
        _job.reset(token)


def current_job() -> tuple[str, str | None] | None:
    """``(job_id, step)`` of the innermost :func:`job_context`, or None."""
    return _job.get()


class JobContextFilter(logging.Filter):
    """Sets ``job_id`` and ``step`` on every record (None outside a job), unless the
    call gave them itself with ``extra=``."""

    def filter(self, record: logging.LogRecord) -> bool:
        job_id, step = _job.get() or (None, None)
        if getattr(record, "job_id", None) is None:
            record.job_id = job_id
        if getattr(record, "step", None) is None:
            record.step = step
        return True


def _utc_iso(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record: time (ISO 8601, UTC), level, logger, message,
    job_id, step, exception (when there is one), then any ``extra=`` fields."""

    def __init__(self) -> None:
        super().__init__(
            "levelname,name,message,job_id,step",
            style=",",
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
                "stack_info": "stack",
            },
            # uvicorn passes a coloured copy of each message as an extra field.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        log_data["time"] = _utc_iso(record.created)  # first, for people reading lines
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    """``2026-11-22 06:00:01,123 INFO loadbay.pipeline [job 01M8ABC import] message``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        job_id = getattr(record, "job_id", None)
        if not job_id:
            return super().formatMessage(record)
        step = getattr(record, "step", None)
        context = f"[job {job_id} {step}]" if step else f"[job {job_id}]"
        return f"{record.asctime} {record.levelname} {record.name} {context} {record.message}"


def configure_logging(format: Literal["text", "json"], level: str) -> logging.Handler:
    """Send every record to stderr in ``format``, from ``level`` up; replaces whatever
    handlers the root logger had (calling it again reconfigures). Returns the handler."""
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if format == "json" else TextFormatter())
    handler.addFilter(JobContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
    return handler
