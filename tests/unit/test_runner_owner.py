"""A process's lease owner fits the job_steps column whatever the host is called."""

from __future__ import annotations

import pytest

from loadbay.db.tables import job_steps
from loadbay.pipeline import runner


def test_a_long_host_name_still_fits_the_lease_owner_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runner.socket, "gethostname", lambda: "h" * 253)
    owner = runner.process_owner()
    assert len(owner) <= job_steps.c.lease_owner.type.length  # type: ignore[attr-defined]
    assert owner.startswith("h" * 40 + ":")
    assert runner.process_owner() != owner, "each process gets its own"
