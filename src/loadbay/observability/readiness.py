"""Readiness: can this process do its work now? Every dependency is asked at once,
and the answer comes within ``timeout`` seconds even when one of them hangs.

>>> def broken() -> None:
...     raise ConnectionRefusedError("connection refused")
>>> report = Readiness({"database": lambda: None, "broker": broken}).check()
>>> report.ready, report.checks["broker"]
(False, 'unavailable: ConnectionRefusedError: connection refused')

A check is a callable that returns when the dependency works and raises when it does
not. Each runs on a daemon thread of its own; one that has not answered by the
deadline is reported ``unavailable: no answer within 2s`` and left to finish, and while
it is still running the next probe reports it so without starting another.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, text

from loadbay.storage.base import Store

Check = Callable[[], None]
OK = "ok"
PROBE_KEY = "readyz-probe"
"""The object key a store check asks about; it need not exist."""

_CREDENTIALS = re.compile(r"(//[^/@\s:]*):[^/@\s]*@")  # user:password@ in URLs
_MAX_REASON = 160


@dataclass(frozen=True)
class ReadinessReport:
    """Each check's answer: ``"ok"`` or ``"unavailable: <short reason>"``."""

    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(answer == OK for answer in self.checks.values())


def reason(error: BaseException) -> str:
    """A short, single-line reason without credentials (``/readyz`` needs no token)."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    detail = _CREDENTIALS.sub(r"\1:***@", first_line)
    text_ = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return text_ if len(text_) <= _MAX_REASON else text_[: _MAX_REASON - 1] + "…"


class _Probe:
    """One run of one check on its own thread."""

    def __init__(self, check: Check) -> None:
        self.done = threading.Event()
        self.answer = OK
        self._check = check
        self.thread = threading.Thread(target=self._run, name="readyz-probe", daemon=True)

    def _run(self) -> None:
        try:
            self._check()
        except Exception as error:
            self.answer = f"unavailable: {reason(error)}"
        finally:
            self.done.set()


class Readiness:
    """Runs named checks in parallel, each bounded by ``timeout`` seconds."""

    def __init__(self, checks: Mapping[str, Check], timeout: float = 2.0) -> None:
        self._checks = dict(checks)
        self._timeout = timeout
        self._running: dict[str, _Probe] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def check(self) -> ReadinessReport:
        deadline = time.monotonic() + self._timeout
        answers: dict[str, str] = {}
        started: dict[str, _Probe] = {}
        with self._lock:
            for name, check in self._checks.items():
                previous = self._running.get(name)
                if previous is not None and not previous.done.is_set():
                    answers[name] = "unavailable: the previous check has not answered yet"
                    continue
                probe = self._running[name] = started[name] = _Probe(check)
                probe.thread.start()
        for name, probe in started.items():
            if probe.done.wait(max(0.0, deadline - time.monotonic())):
                answers[name] = probe.answer
            else:
                answers[name] = f"unavailable: no answer within {self._timeout:g}s"
        return ReadinessReport({name: answers[name] for name in self._checks})


def database_check(engine: Engine) -> Check:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def store_check(store: Store) -> Check:
    """Ask the store for the size of an object that need not exist: "not found" is an
    answer, so the store works. (``exists`` would not do: on local disk it says False
    for a directory that has become a file.)"""

    def check() -> None:
        with contextlib.suppress(FileNotFoundError):
            store.size(PROBE_KEY)

    return check


def broker_check(
    url: str, queue: str, timeout: float, options: Mapping[str, Any] | None = None
) -> Check:
    from loadbay.observability.queues import check_broker

    return lambda: check_broker(url, queue, timeout, options)


def service_readiness(
    engine: Engine,
    stores: Mapping[str, Store],
    broker: tuple[str, str] | None = None,
    timeout: float = 2.0,
    broker_options: Mapping[str, Any] | None = None,
) -> Readiness:
    """The checks of a loadbay process: ``database``, ``broker`` (when ``broker`` gives
    ``(url, queue)``, with the workers' transport options) and ``stores.<name>`` for
    every configured store."""
    checks: dict[str, Check] = {"database": database_check(engine)}
    if broker is not None:
        url, queue = broker
        checks["broker"] = broker_check(url, queue, timeout * 0.75, broker_options)
    checks.update({f"stores.{name}": store_check(store) for name, store in stores.items()})
    return Readiness(checks, timeout)
