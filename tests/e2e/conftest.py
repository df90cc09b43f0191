"""What the end-to-end tests share: a ``loadbay worker`` on the module's ``config``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Worker


@pytest.fixture
def worker(tmp_path: Path, config: Path) -> Iterator[Path]:
    """Its log; ``config`` is the requesting module's fixture."""
    running = Worker(tmp_path, config, "only", concurrency=2)
    yield running.log
    running.stop()
