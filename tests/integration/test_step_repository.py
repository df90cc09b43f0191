"""The steps repository's contract, on a migrated service database (SQLite, and
PostgreSQL with ``LOADBAY_TEST_DB=postgresql``): phases become ready in order, a claim
takes a lease that only its holder may use, failed attempts back off and end dead, and
the recovery sweep's ``take_due`` hands each due step to one sweeper.

Leases here last a fraction of a second, so a test can let one expire by sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from loadbay.db.engine import make_engine
from loadbay.db.jobs import JobRepository
from loadbay.db.migrate import upgrade_to_head
from loadbay.db.steps import ClaimRefused, Lease, StepRepository
from loadbay.db.tables import job_steps
from loadbay.domain.ids import new_id
from loadbay.domain.jobs import Job, JobError, JobKind, JobStatus
from loadbay.domain.steps import NewStep, Step, StepResult, StepState

pytestmark = [pytest.mark.db, pytest.mark.no_stores]

SHORT = 0.2  # seconds: a lease that expires while the test sleeps
EXPIRED = SHORT + 0.2


@pytest.fixture
def engine(database_urls: tuple[str, str]) -> Iterator[Engine]:
    built = make_engine(database_urls[0])
    upgrade_to_head(built)
    yield built
    built.dispose()


@pytest.fixture
def steps(engine: Engine) -> StepRepository:
    return StepRepository(engine, lease_seconds=60, max_attempts=3)


@pytest.fixture
def short(engine: Engine) -> StepRepository:
    """The same table, with leases that expire at once."""
    return StepRepository(engine, lease_seconds=SHORT, max_attempts=3)


def new_job(engine: Engine, status: JobStatus = JobStatus.PROCESSING) -> str:
    """A real row in ``jobs`` (the steps lock it on phase changes)."""
    job = Job(
        id=new_id(),
        kind=JobKind.IMPORT,
        status=status,
        owner="alice",
        tenant="acme",
        dataset="user",
        file_name="upload.csv",
        file_size=1,
        created_at=datetime.now(UTC),
    )
    JobRepository(engine).add(job, None)
    return job.id


def claimed(result: Step | ClaimRefused) -> Step:
    assert isinstance(result, Step), result
    return result


def state(steps: StepRepository, job_id: str, name: str) -> StepState:
    step = steps.get(job_id, name)
    assert step is not None
    return step.state


PIPELINE = [
    NewStep("scan", 0),
    NewStep("split", 1),
    NewStep("parse/00000", 2, {"start": 0}),
    NewStep("parse/00001", 2, {"start": 1024}),
    NewStep("index", 3),
]


# --- seeding and phases ---------------------------------------------------------------


def test_seed_makes_only_the_lowest_phase_ready_and_seeds_once(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    assert steps.seed(job_id, PIPELINE)
    assert steps.ready_names(job_id) == ["scan"]
    assert not steps.seed(job_id, [NewStep("other", 0)]), "a job is seeded once"
    recorded = steps.of_job(job_id)
    assert [s.name for s in recorded] == sorted(s.name for s in PIPELINE)
    assert {s.state for s in recorded} == {StepState.PENDING}
    assert {s.attempts for s in recorded} == {0}
    parse = steps.get(job_id, "parse/00001")
    assert parse is not None
    assert (parse.phase, parse.spec, parse.result, parse.error) == (2, {"start": 1024}, None, None)
    assert [s.name for s in steps.of_job(job_id, phase=2)] == ["parse/00000", "parse/00001"]
    assert steps.get(job_id, "nothing") is None
    other = new_job(engine)
    assert steps.ready_names(other) == []
    assert steps.of_job(other) == []


def test_steps_of_a_later_phase_cannot_be_claimed_before_it_is_ready(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.claim(job_id, "split", "w1") is ClaimRefused.NOTHING
    assert steps.claim(job_id, "parse/00000", "w1") is ClaimRefused.NOTHING
    assert steps.claim(job_id, "no-such-step", "w1") is ClaimRefused.NOTHING
    assert state(steps, job_id, "split") is StepState.PENDING


def test_complete_readies_the_next_phase_only_once_all_of_this_one_is_done(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    claimed(steps.claim(job_id, "scan", "w1"))
    assert steps.complete(Lease(job_id, "scan", "w1"), StepResult()) == ["split"]
    claimed(steps.claim(job_id, "split", "w1"))
    assert steps.complete(Lease(job_id, "split", "w1"), StepResult({"layout": 1})) == [
        "parse/00000",
        "parse/00001",
    ]
    assert steps.ready_names(job_id) == ["parse/00000", "parse/00001"]
    claimed(steps.claim(job_id, "parse/00000", "w1"))
    claimed(steps.claim(job_id, "parse/00001", "w2"))
    assert steps.ready_names(job_id) == []
    first = steps.complete(
        Lease(job_id, "parse/00001", "w2"), StepResult({"rows": 7}, success=5, failure=2)
    )
    assert first == [], "parse/00000 still runs: index must wait"
    assert state(steps, job_id, "index") is StepState.PENDING
    assert steps.claim(job_id, "index", "w1") is ClaimRefused.NOTHING
    assert steps.complete(Lease(job_id, "parse/00000", "w1"), StepResult({"rows": 3})) == ["index"]
    done = steps.get(job_id, "parse/00001")
    assert done is not None
    assert (done.state, done.result, done.success, done.failure) == (
        StepState.DONE,
        {"rows": 7},
        5,
        2,
    )
    # A completed step is not claimed again.
    assert steps.claim(job_id, "parse/00001", "w3") is ClaimRefused.NOTHING
    # new_steps: the index step adds the next phases; the lowest of them becomes ready.
    claimed(steps.claim(job_id, "index", "w1"))
    added = [
        NewStep("decide/00000", 4, {"start": 0}),
        NewStep("decide/00001", 4, {"start": 1024}),
        NewStep("finalize", 5),
    ]
    ready = steps.complete(Lease(job_id, "index", "w1"), StepResult({"rows": 10}), added)
    assert ready == ["decide/00000", "decide/00001"]
    assert state(steps, job_id, "finalize") is StepState.PENDING
    assert steps.ready_names(job_id) == ["decide/00000", "decide/00001"]
    for name in ("decide/00000", "decide/00001"):
        claimed(steps.claim(job_id, name, "w1"))
    assert steps.complete(Lease(job_id, "decide/00000", "w1"), StepResult()) == []
    assert steps.complete(Lease(job_id, "decide/00001", "w1"), StepResult()) == ["finalize"]
    claimed(steps.claim(job_id, "finalize", "w1"))
    assert steps.complete(Lease(job_id, "finalize", "w1"), StepResult()) == [], "all done"
    assert {s.state for s in steps.of_job(job_id)} == {StepState.DONE}


def test_replace_from_phase_drops_that_phase_and_every_later_one(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(
        job_id,
        [
            NewStep("split", 1),
            NewStep("parse/00000", 2, {"chunk": 0}),
            NewStep("parse/00001", 2, {"chunk": 1}),
            NewStep("index", 3),
            NewStep("decide/00000", 4),
            NewStep("decide/00001", 4),
            NewStep("finalize", 5),
        ],
    )
    for phase_steps in (["split"], ["parse/00000", "parse/00001"]):
        for name in phase_steps:
            claimed(steps.claim(job_id, name, "w1"))
            steps.complete(Lease(job_id, name, "w1"), StepResult({"was": name}))
    claimed(steps.claim(job_id, "index", "w1"))
    whole = [
        NewStep("parse/00000", 2, {"whole": True}),
        NewStep("index", 3),
        NewStep("decide/00000", 4, {"whole": True}),
        NewStep("finalize", 5),
    ]
    ready = steps.complete(Lease(job_id, "index", "w1"), StepResult(), whole, replace_from_phase=2)
    assert ready == ["parse/00000"]
    left = {s.name: s for s in steps.of_job(job_id)}
    assert sorted(left) == ["decide/00000", "finalize", "index", "parse/00000", "split"]
    assert left["split"].state is StepState.DONE, "an earlier phase is kept"
    assert left["split"].result == {"was": "split"}
    parse = left["parse/00000"]
    assert (parse.state, parse.attempts, parse.spec, parse.result) == (
        StepState.PENDING,
        0,
        {"whole": True},
        None,
    )
    assert left["index"].state is StepState.PENDING
    assert left["index"].result is None
    assert steps.ready_names(job_id) == ["parse/00000"]


# --- leases ---------------------------------------------------------------------------


def test_a_claim_takes_a_lease_and_a_second_claim_gets_nothing(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    step = claimed(steps.claim(job_id, "scan", "w1"))
    assert (step.job_id, step.name, step.state, step.attempts) == (
        job_id,
        "scan",
        StepState.RUNNING,
        1,
    )
    assert steps.claim(job_id, "scan", "w2") is ClaimRefused.NOTHING
    assert steps.claim(job_id, "scan", "w1") is ClaimRefused.NOTHING, "not even its holder"
    assert steps.ready_names(job_id) == [], "a running step is not ready"
    again = steps.get(job_id, "scan")
    assert again is not None
    assert again.attempts == 1, "a refused claim counts no attempt"


def test_renewing_keeps_the_lease_past_its_length(engine: Engine, short: StepRepository) -> None:
    job_id = new_job(engine)
    short.seed(job_id, PIPELINE)
    claimed(short.claim(job_id, "scan", "w1"))
    lease = Lease(job_id, "scan", "w1")
    deadline = time.monotonic() + SHORT * 3
    while time.monotonic() < deadline:
        assert short.renew(lease)
        assert short.claim(job_id, "scan", "w2") is ClaimRefused.NOTHING
        time.sleep(SHORT / 4)


def test_after_the_lease_expires_another_owner_claims_and_the_first_is_shut_out(
    engine: Engine, short: StepRepository
) -> None:
    job_id = new_job(engine)
    short.seed(job_id, PIPELINE)
    claimed(short.claim(job_id, "scan", "w1"))
    first = Lease(job_id, "scan", "w1")
    assert short.record_progress(first, 3, 2, 1)
    time.sleep(EXPIRED)
    second = claimed(short.claim(job_id, "scan", "w2"))
    assert (second.state, second.attempts) == (StepState.RUNNING, 2)
    # The first owner lost the step: nothing it does is recorded.
    assert not short.renew(first)
    assert not short.record_progress(first, 99, 99, 0)
    assert short.complete(first, StepResult({"by": "w1"}, success=99)) is None
    assert short.release(first, "too late", retry_in=0), "the new holder decides"
    short.hand_back(first)
    now = short.get(job_id, "scan")
    assert now is not None
    assert (now.state, now.attempts, now.result, now.error) == (StepState.RUNNING, 2, None, None)
    assert (now.processed, now.success, now.failure) == (3, 2, 1), "w1's late progress dropped"
    assert short.ready_names(job_id) == [], "w1's complete made no phase ready"
    # The new holder's lease works.
    lease = Lease(job_id, "scan", "w2")
    assert short.renew(lease)
    assert short.record_progress(lease, 5, 5, 0)
    assert short.complete(lease, StepResult({"by": "w2"}, success=5)) == ["split"]
    done = short.get(job_id, "scan")
    assert done is not None
    assert (done.state, done.result, done.success) == (StepState.DONE, {"by": "w2"}, 5)


def test_hand_back_returns_the_step_at_once_without_counting_the_attempt(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    claimed(steps.claim(job_id, "scan", "w1"))
    steps.hand_back(Lease(job_id, "scan", "w1"))
    back = steps.get(job_id, "scan")
    assert back is not None
    assert (back.state, back.attempts) == (StepState.PENDING, 0)
    assert steps.ready_names(job_id) == ["scan"]
    assert steps.take_due(60) == [(job_id, "scan")]
    assert claimed(steps.claim(job_id, "scan", "w2")).attempts == 1


# --- failed attempts ------------------------------------------------------------------


def test_release_backs_off_until_the_delay_has_passed(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.take_unsent(job_id) == ["scan"]
    claimed(steps.claim(job_id, "scan", "w1"))
    assert steps.release(Lease(job_id, "scan", "w1"), "ValueError: boom", retry_in=0.5)
    failed = steps.get(job_id, "scan")
    assert failed is not None
    assert (failed.state, failed.attempts, failed.error) == (
        StepState.PENDING,
        1,
        "ValueError: boom",
    )
    assert steps.ready_names(job_id) == []
    assert steps.claim(job_id, "scan", "w2") is ClaimRefused.NOTHING
    assert steps.take_due(60) == [], "backing off: not due yet"
    time.sleep(0.6)
    assert steps.ready_names(job_id) == ["scan"]
    assert steps.take_due(60) == [(job_id, "scan")], "release cleared its enqueued mark"
    assert claimed(steps.claim(job_id, "scan", "w2")).attempts == 2


def test_the_last_failed_attempt_leaves_the_step_dead(engine: Engine) -> None:
    steps = StepRepository(engine, lease_seconds=60, max_attempts=2)
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    claimed(steps.claim(job_id, "scan", "w1"))
    assert steps.release(Lease(job_id, "scan", "w1"), "first", retry_in=0)
    assert claimed(steps.claim(job_id, "scan", "w1")).attempts == 2
    assert not steps.release(Lease(job_id, "scan", "w1"), "second", retry_in=0)
    dead = steps.dead_step(job_id)
    assert dead is not None
    assert (dead.name, dead.state, dead.attempts, dead.error) == (
        "scan",
        StepState.DEAD,
        2,
        "second",
    )
    assert steps.claim(job_id, "scan", "w2") is ClaimRefused.NOTHING
    assert steps.ready_names(job_id) == []
    assert steps.take_due(0) == [], "a dead step is never sent again"
    assert state(steps, job_id, "split") is StepState.PENDING
    assert steps.ready_names(job_id) == [], "the next phase never becomes ready"


def test_a_step_whose_workers_die_max_attempts_times_is_exhausted(engine: Engine) -> None:
    steps = StepRepository(engine, lease_seconds=SHORT, max_attempts=2)
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.dead_step(job_id) is None
    assert claimed(steps.claim(job_id, "scan", "w1")).attempts == 1
    time.sleep(EXPIRED)  # w1 died
    assert claimed(steps.claim(job_id, "scan", "w2")).attempts == 2
    time.sleep(EXPIRED)  # w2 died too
    assert steps.take_due(60) == [(job_id, "scan")], "sent, so that a claim finds it dead"
    assert steps.claim(job_id, "scan", "w3") is ClaimRefused.EXHAUSTED
    dead = steps.dead_step(job_id)
    assert dead is not None
    assert (dead.name, dead.state, dead.attempts, dead.error) == ("scan", StepState.DEAD, 2, None)
    assert steps.claim(job_id, "scan", "w4") is ClaimRefused.NOTHING, "dead is reported once"
    assert steps.take_due(0) == []


# --- delivery and recovery ------------------------------------------------------------


def test_take_due_a_ready_step_never_enqueued_is_due_once(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.take_due(60) == [(job_id, "scan")], "later phases are not due"
    assert steps.take_due(60) == [], "taken: marked enqueued"


def test_take_unsent_hands_each_ready_step_to_one_sender(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, [NewStep("parse/00000", 2), NewStep("parse/00001", 2)])
    assert steps.take_unsent(job_id, ["parse/00001"]) == ["parse/00001"]
    assert steps.take_due(60) == [(job_id, "parse/00000")], "the sweep takes what is left"
    assert steps.take_unsent(job_id) == [], "both taken: nothing sent twice"
    assert steps.take_unsent(job_id, []) == []
    steps.unsend(job_id, ["parse/00001"])
    assert steps.take_due(60) == [(job_id, "parse/00001")], "its send failed: due again"


def test_unsend_waiting_makes_every_sent_waiting_step_due_at_once(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, [NewStep(f"parse/{i:05d}", 2) for i in range(3)])
    assert len(steps.take_unsent(job_id)) == 3
    claimed(steps.claim(job_id, "parse/00000", "w1"))
    assert steps.take_due(60) == [], "sent just now, one running"
    assert steps.unsend_waiting() == 2, "the running step keeps its lease"
    assert steps.take_due(60) == [(job_id, "parse/00001"), (job_id, "parse/00002")]


def test_take_due_a_step_enqueued_recently_is_not_due_one_enqueued_long_ago_is(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.take_unsent(job_id) == ["scan"]
    assert steps.take_due(60) == []
    assert steps.take_due(SHORT) == [], "sent just now"
    time.sleep(EXPIRED)
    assert steps.take_due(60) == [], "not yet 60 seconds"
    assert steps.take_due(SHORT) == [(job_id, "scan")], "its message was lost"
    assert steps.take_due(SHORT) == [], "sent again just now"


def _sent_ago(engine: Engine, job_id: str, seconds: float) -> None:
    """Move the job's last sends ``seconds`` into the past."""
    with engine.begin() as connection:
        connection.execute(
            update(job_steps)
            .where(job_steps.c.job_id == job_id)
            .values(enqueued_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


def test_take_due_waits_twice_as_long_before_each_resend_of_a_waiting_step(
    engine: Engine, steps: StepRepository
) -> None:
    """A backlog's messages are there, waiting their turn: resending them every period
    would fill the queue with copies. The wait doubles, up to 32 periods."""
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    assert steps.take_unsent(job_id) == ["scan"]
    for wait in (60, 120, 240, 480, 960, 1920, 1920):
        _sent_ago(engine, job_id, wait - 5)
        assert steps.take_due(60) == [], f"sent {wait - 5} s ago: not due before {wait} s"
        _sent_ago(engine, job_id, wait + 5)
        assert steps.take_due(60) == [(job_id, "scan")], f"due after {wait} s"
    claimed(steps.claim(job_id, "scan", "w1"))
    assert steps.release(Lease(job_id, "scan", "w1"), "boom", retry_in=0)
    assert steps.take_due(60) == [(job_id, "scan")], "a retry is due at once"
    _sent_ago(engine, job_id, 65)
    assert steps.take_due(60) == [(job_id, "scan")], "and counts its sends from one"


def test_take_due_a_running_step_is_due_once_its_lease_expired(
    engine: Engine, short: StepRepository
) -> None:
    job_id = new_job(engine)
    short.seed(job_id, PIPELINE)
    assert short.take_unsent(job_id) == ["scan"]
    claimed(short.claim(job_id, "scan", "w1"))
    assert short.take_due(60) == [], "running under a live lease"
    time.sleep(EXPIRED)
    assert short.take_due(60) == [(job_id, "scan")], "sent before its worker died"
    assert short.take_due(60) == [], "sent again just now"
    assert claimed(short.claim(job_id, "scan", "w2")).attempts == 2
    assert short.take_due(60) == [], "running under the new lease"


def test_take_due_ignores_done_and_waiting_steps(engine: Engine, steps: StepRepository) -> None:
    job_id = new_job(engine)
    steps.seed(job_id, PIPELINE)
    claimed(steps.claim(job_id, "scan", "w1"))
    steps.complete(Lease(job_id, "scan", "w1"), StepResult())
    assert steps.take_due(60) == [(job_id, "split")]
    time.sleep(0.05)
    assert steps.take_due(0.01) == [(job_id, "split")], "pending and stale again"
    claimed(steps.claim(job_id, "split", "w1"))
    steps.complete(Lease(job_id, "split", "w1"), StepResult())
    time.sleep(0.05)
    due = steps.take_due(0.01)
    assert due == [(job_id, "parse/00000"), (job_id, "parse/00001")], "not scan (done)"


def _two_sweeps(steps: StepRepository) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``take_due`` on two threads at once: what each took."""
    start = threading.Barrier(2)
    taken: list[list[tuple[str, str]]] = [[], []]
    failures: list[BaseException] = []

    def sweep(slot: int) -> None:
        try:
            start.wait(timeout=10)
            taken[slot] = steps.take_due(60)
        except BaseException as error:  # reported by the test thread
            failures.append(error)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    return taken[0], taken[1]


def test_take_due_each_due_step_goes_to_one_of_two_concurrent_sweeps(
    engine: Engine, steps: StepRepository
) -> None:
    for _ in range(3):
        expected: set[tuple[str, str]] = set()
        for _ in range(2):
            job_id = new_job(engine)
            chunks = [NewStep(f"parse/{i:05d}", 2) for i in range(30)]
            steps.seed(job_id, chunks)
            expected |= {(job_id, s.name) for s in chunks}
        one, other = _two_sweeps(steps)
        first, second = set(one), set(other)
        assert len(first) == len(one)
        assert len(second) == len(other)
        assert not first & second, f"taken twice: {sorted(first & second)[:5]}"
        assert first | second == expected
        assert steps.take_due(60) == []


def test_expire_leases_ends_the_leases_of_one_process(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    names = [f"parse/{i:05d}" for i in range(4)]
    steps.seed(job_id, [NewStep(name, 2) for name in names])
    owners = ["host-a:10:aaaa", "host-a:10:aaaa", "host-a:11:bbbb", "host_a:10:cccc"]
    assert steps.take_unsent(job_id) == names
    for name, owner in zip(names, owners, strict=True):
        claimed(steps.claim(job_id, name, owner))
    assert steps.expire_leases("host-a:10:") == 2
    assert steps.take_due(60) == [(job_id, names[0]), (job_id, names[1])], "due at once"
    assert claimed(steps.claim(job_id, names[0], "host-b:1:dddd")).attempts == 2
    assert steps.claim(job_id, names[2], "host-b:1:dddd") is ClaimRefused.NOTHING
    # Only the running steps of the process; a prefix is not a pattern.
    assert steps.expire_leases("host_a:10:") == 1
    assert steps.take_due(60) == [(job_id, names[3])]
    assert steps.expire_leases("nobody:") == 0
    assert steps.expire_leases("") == 4, "every running step (a process starting alone)"
    steps.complete(Lease(job_id, names[1], "host-a:10:aaaa"), StepResult())
    assert state(steps, job_id, names[1]) is StepState.DONE, "expired, but still its holder's"


# --- counts, dead letters, forgetting -------------------------------------------------


def test_totals_sum_the_progress_of_one_phase_of_one_job(
    engine: Engine, steps: StepRepository
) -> None:
    job_id = new_job(engine)
    other = new_job(engine)
    decide = [NewStep("decide/00000", 4), NewStep("decide/00001", 4), NewStep("finalize", 5)]
    steps.seed(job_id, decide)
    steps.seed(other, decide)
    assert steps.totals(job_id, 4) == (0, 0, 0)
    for name in ("decide/00000", "decide/00001"):
        claimed(steps.claim(job_id, name, "w1"))
        claimed(steps.claim(other, name, "w1"))
    assert steps.record_progress(Lease(job_id, "decide/00000", "w1"), 10, 8, 2)
    assert steps.record_progress(Lease(job_id, "decide/00001", "w1"), 5, 5, 0)
    assert steps.record_progress(Lease(other, "decide/00000", "w1"), 1000, 1000, 0)
    assert steps.totals(job_id, 4) == (15, 13, 2)
    assert steps.totals(job_id, 5) == (0, 0, 0)
    assert steps.totals(job_id, 99) == (0, 0, 0)
    # A result's counts replace the step's last progress.
    steps.complete(Lease(job_id, "decide/00000", "w1"), StepResult(success=9, failure=1))
    assert steps.totals(job_id, 4) == (15, 14, 1)
    assert steps.totals(other, 4) == (1000, 1000, 0)


def test_an_ended_job_is_not_forgotten_under_a_step_that_still_runs(
    engine: Engine, steps: StepRepository
) -> None:
    """A finalize completes its job, then records its own result: a sweep between the
    two must not drop the step under it (its rows would go uncounted)."""
    jobs = JobRepository(engine)
    job_id = new_job(engine)
    steps.seed(job_id, [NewStep("finalize", 5)])
    claimed(steps.claim(job_id, "finalize", "w1"))
    assert jobs.fail(job_id, JobError("step_failed", "ended by another step"))
    assert steps.ended_jobs_with_steps() == [], "its lease is live: its runner forgets it"
    steps.expire_leases("w1")
    assert steps.ended_jobs_with_steps() == [job_id], "its worker is gone: the sweep does"


def test_forget_drops_an_ended_jobs_steps_but_its_dead_letter(
    engine: Engine, steps: StepRepository
) -> None:
    jobs = JobRepository(engine)
    job_id = new_job(engine)
    other = new_job(engine)
    chunks = [NewStep("decide/00000", 4), NewStep("decide/00001", 4), NewStep("finalize", 5)]
    steps.seed(job_id, chunks)
    steps.seed(other, chunks)
    dying = StepRepository(engine, lease_seconds=60, max_attempts=1)
    claimed(dying.claim(job_id, "decide/00001", "w1"))
    assert not dying.release(Lease(job_id, "decide/00001", "w1"), "boom", retry_in=0)
    assert steps.jobs_without_steps([JobKind.IMPORT]) == []
    assert steps.ended_jobs_with_steps() == []
    assert steps.active_jobs_with_dead_steps([JobKind.IMPORT]) == [job_id], "not failed yet"
    assert steps.active_jobs_with_dead_steps([JobKind.EXPORT]) == []
    assert jobs.fail(job_id, JobError("step_failed", "it died"))
    assert steps.active_jobs_with_dead_steps([JobKind.IMPORT]) == []
    assert steps.ended_jobs_with_steps() == [job_id]
    steps.forget(job_id)
    (kept,) = steps.of_job(job_id)
    assert (kept.name, kept.state, kept.error) == ("decide/00001", StepState.DEAD, "boom")
    assert steps.dead_step(job_id) == kept
    assert steps.ended_jobs_with_steps() == [], "a dead letter alone is not left to forget"
    assert len(steps.of_job(other)) == 3, "other jobs keep their steps"
    assert steps.jobs_without_steps([JobKind.IMPORT]) == [], "it ended: never restarted"
    steps.forget(job_id, keep_dead=False)
    assert steps.of_job(job_id) == []
    assert steps.dead_step(job_id) is None
    assert len(steps.of_job(other)) == 3
    fresh = new_job(engine, JobStatus.RECEIVED)
    assert steps.jobs_without_steps([JobKind.IMPORT]) == [fresh]
