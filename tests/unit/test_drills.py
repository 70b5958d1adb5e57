"""The drills' own rules, on plain values: the chaos drill strikes every
fault it promises, and the soak calls growth only what keeps growing."""
import random

from scripts.chaos import schedule_faults
from scripts.soak import grew, verdict
from services.registry import CENTRE


def test_every_fault_kind_strikes_and_the_long_outage_is_not_cut_short():
    schedule = schedule_faults(random.Random(7), 2, window=200, outage_service="fees", outage=60)
    kinds = [kind for _, kind, _ in schedule]
    assert kinds.count("outage") == 1
    for kind in ("broker_kill", "broker_restart", "database_kill"):
        assert kinds.count(kind) == 2
    killed = [target for _, kind, target in schedule if kind == "service_kill"]
    assert sorted(killed) == sorted(list(CENTRE.names) * 2)
    [(outage_at, _, _)] = [s for s in schedule if s[1] == "outage"]
    for at, kind, target in schedule:
        if kind == "service_kill" and target == "fees":
            assert not outage_at <= at <= outage_at + 60  # never "killed" while it is down
    assert [at for at, _, _ in schedule] == sorted(at for at, _, _ in schedule)


def test_growth_is_a_trend_of_thirds_not_one_noisy_sample():
    assert grew([100, 110, 130, 150, 170, 190, 210], 1.2, 10)
    # a shared machine: one wild sample late, or a zig-zag, is no trend
    assert not grew([100, 100, 104, 98, 101, 300, 99, 102, 100, 103], 1.2, 10)
    assert not grew([100, 100, 130, 95, 128, 97, 131, 96, 129, 98], 1.2, 10)
    assert not grew([100, 10, 11, 12, 11, 12, 13], 1.2, 10)  # warm-up, then up by less than the margin
    assert not grew([100, 110, 130], 1.2, 10)  # too few samples to tell
    assert not grew([None, None, None, None], 1.2, 10)


def sample(at, submitted, memory=200.0, p99=50.0, queue=0, overdue=0, pending=0, parked=0):
    return {"at_seconds": at, "cases_submitted": submitted, "memory_mib": {"intake": memory},
            "submit_p99_ms": p99, "table_rows": {"intake.outbox": 500, "notify.messages": submitted * 3},
            "queue_depths": {"rpc-intake": queue},
            "overdue_rows": {"intake.outbox": overdue, "intake.inbox": 0},
            "held_rows": {"intake.unpublished": 0, "intake.pending": pending, "intake.parked": parked}}


def soak(**late):
    """Seven samples a minute apart, the last three with `late`."""
    return [sample(60 * i, 60 * i, **(late if i > 4 else {})) for i in range(1, 8)]


def test_the_soak_fails_on_rows_retention_should_have_removed_not_on_flat_noise():
    noisy = [sample(60 * i, 60 * i, memory=200 + (i % 2) * 20, p99=50 + (i % 3) * 40) for i in range(1, 8)]
    assert verdict(noisy, rate=1.0, retention=120, errors=[])["failed_because"] == []
    assert verdict(soak(overdue=3), rate=1.0, retention=120, errors=[])["failed_because"] == \
        ["intake.outbox held 3 rows older than retention allows at 300 s",
         "intake.outbox held 3 rows older than retention allows at 360 s",
         "intake.outbox held 3 rows older than retention allows at 420 s"]
    assert verdict(soak(memory=400), rate=1.0, retention=120, errors=[])["failed_because"] == \
        ["intake memory kept growing"]
    assert verdict(soak(pending=900), rate=1.0, retention=120, errors=[])["failed_because"] == \
        ["intake.pending kept growing: events not sent or applied"]
    assert verdict(soak(parked=1), rate=1.0, retention=120, errors=[])["failed_because"] == \
        ["intake.parked: 1 events parked"]
