"""The drills' own rules, on plain values: the chaos drill strikes every
fault it promises, and the soak calls growth only what keeps growing."""
import random

from scripts.chaos import schedule_faults
from scripts.soak import keeps_growing, verdict
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


def test_growth_is_rising_at_every_late_sample_and_by_a_margin():
    assert keeps_growing([100, 110, 130, 150, 170], 1.2)
    assert not keeps_growing([100, 110, 130, 125, 170], 1.2)  # not at every sample
    assert not keeps_growing([100, 150, 151, 152, 153], 1.2)  # warm-up, then flat enough
    assert not keeps_growing([100, 110, 130], 1.2)  # too few samples to tell
    assert not keeps_growing([None, None, None, None], 1.2)


def sample(at, submitted, outbox, memory=200.0, p99=50.0, queue=0):
    return {"at_seconds": at, "cases_submitted": submitted, "memory_mib": {"intake": memory},
            "submit_p99_ms": p99, "table_rows": {"intake.outbox": outbox, "intake.messages": submitted * 3},
            "queue_depths": {"rpc-intake": queue}}


def test_a_retained_table_past_its_bound_fails_the_soak_and_a_flat_one_passes():
    flat = [sample(60, 60, 300), sample(120, 120, 500), sample(180, 180, 520), sample(240, 240, 510)]
    assert verdict(flat, rate=1.0, retention=120, errors=[])["failed_because"] == []
    grown = flat[:-1] + [sample(240, 240, 50_000)]
    assert any("intake.outbox" in r for r in verdict(grown, rate=1.0, retention=120, errors=[])["failed_because"])
    leaking = [sample(60 * i, 60 * i, 300, memory=m) for i, m in enumerate((200, 210, 260, 320, 400), 1)]
    assert verdict(leaking, rate=1.0, retention=120, errors=[])["failed_because"] == ["intake memory kept growing"]
