"""Housekeeping that runs on a timer in the background (e.g. expiring uploads)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Calls ``task`` every ``interval`` seconds on a thread until ``stopping`` is set;
    a failing run is logged and the next one still happens."""

    def __init__(
        self, name: str, interval: float, task: Callable[[], object], stopping: threading.Event
    ) -> None:
        self._name = name
        self._interval = interval
        self._task = task
        self._stopping = stopping
        self._thread = threading.Thread(target=self._run, name=f"loadbay-{name}", daemon=True)
        self.ran_once = threading.Event()
        """Set once the first run has ended (tests wait for it before they race it)."""

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self._task()
            except Exception:
                log.exception("%s failed; it runs again in %ss", self._name, self._interval)
            self.ran_once.set()
            if self._stopping.wait(self._interval):
                return
