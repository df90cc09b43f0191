"""Structured logs: one JSON object per line, tagged with the job and step."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from loadbay.observability.logs import (
    JobContextFilter,
    JsonLineFormatter,
    TextFormatter,
    configure_logging,
    current_job,
    job_context,
)


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    """A logger of its own writing JSON lines to a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(JobContextFilter())
    logger = logging.getLogger(f"loadbay.test.{id(stream)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_line_has_the_time_level_logger_message_and_job(capture: Any) -> None:
    logger, stream, _ = capture
    with job_context("01M8JOB", step="import"):
        logger.info("batch %d committed", 3)
    (line,) = lines(stream)
    assert list(line)[:6] == ["time", "level", "logger", "message", "job_id", "step"]
    assert line["level"] == "INFO"
    assert line["logger"] == logger.name
    assert line["message"] == "batch 3 committed"
    assert (line["job_id"], line["step"]) == ("01M8JOB", "import")
    assert line["time"].endswith("Z")
    moment = datetime.fromisoformat(line["time"].replace("Z", "+00:00"))
    assert moment.utcoffset() is not None
    assert moment.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert "exception" not in line


def test_outside_a_job_the_fields_are_null_and_extras_are_keys(capture: Any) -> None:
    logger, stream, _ = capture
    logger.warning("slow", extra={"rows": 20_000, "dataset": "user"})
    (line,) = lines(stream)
    assert line["job_id"] is None
    assert line["step"] is None
    assert line["rows"] == 20_000
    assert line["dataset"] == "user"


def test_an_exception_is_its_traceback_text(capture: Any) -> None:
    logger, stream, _ = capture
    try:
        raise ValueError("bad row")
    except ValueError:
        logger.exception("step failed")
    (line,) = lines(stream)
    assert line["level"] == "ERROR"
    assert line["exception"].startswith("Traceback (most recent call last)")
    assert "ValueError: bad row" in line["exception"]


def test_each_record_is_one_line_whatever_the_message(capture: Any) -> None:
    logger, stream, _ = capture
    logger.info('two\nlines and "quotes" and é')
    assert len(stream.getvalue().splitlines()) == 1
    assert lines(stream)[0]["message"] == 'two\nlines and "quotes" and é'


def test_contexts_nest_and_are_restored() -> None:
    assert current_job() is None
    with job_context("A"):
        assert current_job() == ("A", None)
        with job_context("A", "scan"):
            assert current_job() == ("A", "scan")
        assert current_job() == ("A", None)
    assert current_job() is None


def test_the_context_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), job_context("B", "import"):
        raise RuntimeError
    assert current_job() is None


def test_each_thread_sees_only_its_own_job(capture: Any) -> None:
    logger, stream, _ = capture
    barrier = threading.Barrier(2)

    def work(job_id: str) -> None:
        with job_context(job_id, "import"):
            barrier.wait()
            logger.info("working")

    threads = [threading.Thread(target=work, args=(j,)) for j in ("J1", "J2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(line["job_id"] for line in lines(stream)) == ["J1", "J2"]


def test_an_explicit_job_id_wins_over_the_context(capture: Any) -> None:
    logger, stream, _ = capture
    with job_context("CTX"):
        logger.info("about another job", extra={"job_id": "OTHER"})
    assert lines(stream)[0]["job_id"] == "OTHER"


def test_uvicorns_colour_copy_is_left_out(capture: Any) -> None:
    logger, stream, _ = capture
    logger.info("GET /", extra={"color_message": "\x1b[1mGET /\x1b[0m"})
    assert "color_message" not in lines(stream)[0]


def record(message: str, **extra: Any) -> logging.LogRecord:
    made = logging.LogRecord("loadbay.x", logging.INFO, __file__, 1, message, None, None)
    made.__dict__.update(extra)
    return made


def test_the_text_format_names_the_job_when_there_is_one() -> None:
    formatter = TextFormatter()
    assert formatter.format(record("hello", job_id="J1", step="scan")).endswith(
        "INFO loadbay.x [job J1 scan] hello"
    )
    assert formatter.format(record("hello", job_id="J1", step=None)).endswith(
        "INFO loadbay.x [job J1] hello"
    )
    assert formatter.format(record("hello", job_id=None, step=None)).endswith(
        "INFO loadbay.x hello"
    )


@pytest.fixture
def root_logging() -> Iterator[None]:
    """Put the root logger and uvicorn's back as they were."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    access = logging.getLogger("uvicorn.access")
    saved_access = (list(access.handlers), access.propagate)
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])
    access.handlers[:] = saved_access[0]
    access.propagate = saved_access[1]


@pytest.mark.usefixtures("root_logging")
def test_configure_logging_replaces_the_root_handlers_and_routes_uvicorn() -> None:
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.NullHandler())
    access.propagate = False
    configure_logging("json", "warning")
    handler = configure_logging("json", "debug")  # again: still one handler
    root = logging.getLogger()
    assert root.handlers == [handler]
    assert root.level == logging.DEBUG
    assert isinstance(handler.formatter, JsonLineFormatter)
    assert access.handlers == []
    assert access.propagate is True
    assert isinstance(configure_logging("text", "INFO").formatter, TextFormatter)


@pytest.mark.usefixtures("root_logging")
def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="loud"):
        configure_logging("json", "loud")
