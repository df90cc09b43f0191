"""Jobs' state machine, job ids and who may see which job."""

from __future__ import annotations

import itertools
import time

import pytest

from loadbay.domain.ids import encode_ulid, is_valid_id, new_id
from loadbay.domain.jobs import (
    ACTIVE_STATUSES,
    ENDED_STATUSES,
    JobStatus,
    can_transition,
    sources_of,
)
from loadbay.domain.principals import Principal

R, S, P = JobStatus.RECEIVED, JobStatus.SCANNING, JobStatus.PROCESSING
C, F, Q, X = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.QUARANTINED, JobStatus.CANCELLED

# received ──► scanning ──► processing ──► completed, any active one to failed or
# cancelled, quarantine only from scanning; scanning and processing may be re-entered
# (resuming a job left behind), and received may skip scanning when no scanner is set.
ALLOWED = {
    (R, S),
    (R, P),
    (R, F),
    (R, X),
    (S, S),
    (S, P),
    (S, F),
    (S, Q),
    (S, X),
    (P, P),
    (P, C),
    (P, F),
    (P, X),
}


@pytest.mark.parametrize(
    ("current", "target"),
    list(itertools.product(JobStatus, JobStatus)),
    ids=lambda s: s.value,
)
def test_can_transition_for_every_pair(current: JobStatus, target: JobStatus) -> None:
    assert can_transition(current, target) is ((current, target) in ALLOWED)


def test_the_statuses_are_the_contract_ones() -> None:
    assert {s.value for s in JobStatus} == {
        "received",
        "scanning",
        "processing",
        "completed",
        "failed",
        "quarantined",
        "cancelled",
    }
    assert set(ENDED_STATUSES) == {C, F, Q, X}
    assert set(ACTIVE_STATUSES) == {R, S, P}


@pytest.mark.parametrize("ended", sorted(ENDED_STATUSES))
def test_ended_statuses_never_move(ended: JobStatus) -> None:
    assert ended.ended
    assert not any(can_transition(ended, target) for target in JobStatus)


@pytest.mark.parametrize("active", sorted(ACTIVE_STATUSES))
def test_active_statuses_can_fail_or_be_cancelled(active: JobStatus) -> None:
    assert not active.ended
    assert can_transition(active, F)
    assert can_transition(active, X)


@pytest.mark.parametrize("target", list(JobStatus))
def test_sources_of(target: JobStatus) -> None:
    expected = {source for source, to in ALLOWED if to == target}
    assert sources_of(target) == expected
    assert all(can_transition(source, target) for source in sources_of(target))


def test_sources_of_examples() -> None:
    assert sources_of(R) == frozenset()
    assert sources_of(C) == {P}
    assert sources_of(Q) == {S}
    assert sources_of(X) == {R, S, P}


# --- ids ----------------------------------------------------------------------------

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_new_id_is_26_crockford_characters() -> None:
    job_id = new_id()
    assert len(job_id) == 26
    assert set(job_id) <= CROCKFORD
    assert not set(job_id) & set("ILOU")
    assert is_valid_id(job_id)


def test_new_ids_strictly_increase() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(len(i) == 26 and set(i) <= CROCKFORD for i in ids)
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)


def test_new_id_starts_with_the_current_time_in_milliseconds() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_id()
    after = time.time_ns() // 1_000_000
    timestamp = _decode(job_id[:10])
    # an id made in the same millisecond as the previous one may be pushed 1 ms ahead
    assert before <= timestamp <= after + 1


def _decode(text: str) -> int:
    value = 0
    for char in text:
        value = value * 32 + "0123456789ABCDEFGHJKMNPQRSTVWXYZ".index(char)
    return value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0" * 26),
        (1, "0" * 25 + "1"),
        (31, "0" * 25 + "Z"),
        (32, "0" * 24 + "10"),
        (2**128 - 1, "7" + "Z" * 25),
    ],
)
def test_encode_ulid(value: int, text: str) -> None:
    assert encode_ulid(value) == text
    assert _decode(text) == value


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("01JD3Z8X6V0000000000000000", True),
        ("01jd3z8x6v0000000000000000", False),
        ("01JD3Z8X6V000000000000000", False),
        ("01JD3Z8X6V00000000000000000", False),
        ("01JD3Z8X6V000000000000000U", False),
        ("01JD3Z8X6V000000000000000I", False),
        ("../../../etc/passwd0000000", False),
        ("", False),
    ],
)
def test_is_valid_id(text: str, valid: bool) -> None:
    assert is_valid_id(text) is valid


# --- principals ---------------------------------------------------------------------

ALICE = Principal(user="alice", tenant="acme", roles=frozenset({"user"}))
LONER = Principal(user="lone", tenant="", roles=frozenset({"user"}))
ACME_ADMIN = Principal(user="dora", tenant="acme", roles=frozenset({"admin"}))
ROOT = Principal(user="root", tenant="", roles=frozenset({"admin"}))
BOTH = Principal(user="eve", tenant="acme", roles=frozenset({"user", "admin"}))


@pytest.mark.parametrize(
    ("principal", "owner", "tenant", "sees"),
    [
        # a user sees only their own jobs
        (ALICE, "alice", "acme", True),
        (ALICE, "bob", "acme", False),
        (ALICE, "alice", "globex", False),
        (ALICE, "bob", "globex", False),
        (ALICE, "alice", "", False),
        (LONER, "lone", "", True),
        (LONER, "alice", "", False),
        (LONER, "lone", "acme", False),
        # an admin with a tenant sees every job of that tenant, and no other
        (ACME_ADMIN, "alice", "acme", True),
        (ACME_ADMIN, "dora", "acme", True),
        (ACME_ADMIN, "carol", "globex", False),
        (ACME_ADMIN, "dora", "globex", False),
        (ACME_ADMIN, "x", "", False),
        (BOTH, "bob", "acme", True),
        (BOTH, "bob", "globex", False),
        # an admin without a tenant sees every job
        (ROOT, "alice", "acme", True),
        (ROOT, "carol", "globex", True),
        (ROOT, "anyone", "", True),
    ],
)
def test_can_see(principal: Principal, owner: str, tenant: str, sees: bool) -> None:
    assert principal.can_see(owner, tenant) is sees


def test_admin_flags() -> None:
    assert not ALICE.is_admin
    assert not ALICE.sees_every_tenant
    assert not LONER.sees_every_tenant  # an empty tenant alone gives no extra sight
    assert ACME_ADMIN.is_admin
    assert not ACME_ADMIN.sees_every_tenant
    assert ROOT.sees_every_tenant
