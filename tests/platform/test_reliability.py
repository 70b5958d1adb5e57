"""The six guarantees of the shared machinery, against the real broker and
database (issue: foundation)."""
import time

import psycopg
import pytest
from kombu import Connection, Exchange
from nameko.exceptions import RemoteError

from onewindow import inbox, metrics
from onewindow.db import UnitOfWork, connect_pool
from onewindow.outbox import Relay
from tests.platform.conftest import effects
from tests.platform.probe import ProbeSink, ProbeSource


def test_raise_after_write_leaves_neither_row_nor_event(probes, rpc):
    probes["start"](ProbeSource)
    with pytest.raises(RemoteError) as err:
        rpc.probesrc.write_note("undone", fail_after_write=True)
    assert err.value.exc_type == "ValidationFailed"
    assert probes["query"]("probesrc", "SELECT * FROM notes") == []
    assert probes["query"]("probesrc", "SELECT * FROM outbox") == []
    # and a call that succeeds leaves both
    rpc.probesrc.write_note("kept")
    assert len(probes["query"]("probesrc", "SELECT * FROM notes")) == 1
    assert len(probes["query"]("probesrc", "SELECT * FROM outbox")) == 1


def test_same_event_delivered_twice_has_one_effect(probes, platform_env, wait):
    probes["start"](ProbeSink)
    before = metrics.INBOX_DUPLICATES.labels("probesink", "evt-probesrc-note_written--probesink.on_note_written")._value.get()
    event = {"event_id": "11111111-2222-3333-4444-555555555555", "occurred_at": "2026-01-05T09:00:00+08:00",
             "text": "twice"}
    with Connection(platform_env["amqp_uri"]) as conn:
        producer = conn.Producer(serializer="json")
        for _ in range(2):
            producer.publish(event, exchange=Exchange("probesrc.events", type="topic", durable=True),
                             routing_key="note_written")
    wait(lambda: metrics.INBOX_DUPLICATES.labels(
        "probesink", "evt-probesrc-note_written--probesink.on_note_written")._value.get() == before + 1,
        message="the duplicate to be skipped")
    assert len(effects(probes, "twice")) == 1
    assert probes["query"]("probesink", "SELECT duplicates FROM inbox WHERE event_id = %s",
                           (event["event_id"],))[0]["duplicates"] == 1


def test_relay_dying_between_publish_and_mark_publishes_twice_consumer_skips(probes, platform_env, wait):
    probes["start"](ProbeSink)
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=2)
    try:
        with UnitOfWork(pool, "probesrc") as unit:
            unit.execute("INSERT INTO notes (text) VALUES ('relayed')")
            event = unit.emit("note_written", {"text": "relayed"})
        relay = Relay("probesrc", pool, platform_env["amqp_uri"])

        def die(conn, rows):
            raise SystemError("relay killed after publish, before marking")

        with pytest.raises(SystemError):
            relay.publish_due(mark=die)
        assert probes["query"]("probesrc", "SELECT published_at FROM outbox")[0]["published_at"] is None
        assert relay.publish_due() == 1  # published again after the "restart"
        assert probes["query"]("probesrc", "SELECT published_at FROM outbox")[0]["published_at"] is not None
    finally:
        pool.close()
    # (the queue is shared by the run's tests: look for this event only)
    wait(lambda: probes["query"]("probesink", "SELECT 1 FROM inbox WHERE event_id = %s AND status = 'done'",
                                 (event["event_id"],)), message="the sink to apply the event")
    time.sleep(0.5)
    assert len(effects(probes, "relayed")) == 1


def test_consumer_started_after_publish_still_gets_the_event(probes, rpc, wait):
    probes["start"](ProbeSource)
    rpc.probesrc.write_note("early")
    wait(lambda: probes["query"]("probesrc", "SELECT 1 FROM outbox WHERE published_at IS NOT NULL"),
         message="the relay to publish")
    probes["start"](ProbeSink)
    wait(lambda: effects(probes, "early"), message="the late consumer to get the event")
    assert len(effects(probes, "early")) == 1


def test_publish_with_no_queue_bound_is_refused_and_kept(probes, platform_env):
    # an event type nobody listens to: the broker returns it; the outbox keeps it
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=2)
    try:
        with UnitOfWork(pool, "probesrc") as unit:
            unit.emit("nobody_listens", {"text": "x"})
        Relay("probesrc", pool, platform_env["amqp_uri"]).publish_due()
    finally:
        pool.close()
    row = probes["query"]("probesrc", "SELECT * FROM outbox WHERE event_type = 'nobody_listens'")[0]
    assert row["published_at"] is None and row["attempts"] == 1 and "unroutable" in row["last_error"]


def test_failing_twice_then_succeeding_has_one_effect(probes, rpc, wait):
    probes["query"]("probesink", "INSERT INTO planned_failures VALUES ('flaky', 2)")
    probes["start"](ProbeSource, ProbeSink)
    event_id = rpc.probesrc.write_note("flaky")
    wait(lambda: probes["query"]("probesink", "SELECT 1 FROM inbox WHERE event_id = %s AND status = 'done'",
                                 (event_id,)), timeout=20, message="the third attempt to succeed")
    row = probes["query"]("probesink", "SELECT attempts FROM inbox WHERE event_id = %s", (event_id,))[0]
    assert row["attempts"] == 3
    assert len(effects(probes, "flaky")) == 1


def test_always_failing_handler_is_parked_listed_and_replayable(probes, rpc, wait, monkeypatch):
    monkeypatch.setenv("OW_INBOX_MAX_ATTEMPTS", "3")
    probes["query"]("probesink", "INSERT INTO planned_failures VALUES ('doomed', -1)")
    probes["start"](ProbeSource, ProbeSink)
    event_id = rpc.probesrc.write_note("doomed")
    wait(lambda: probes["query"]("probesink", "SELECT 1 FROM inbox WHERE status = 'parked'"), timeout=20,
         message="the event to be parked")
    assert effects(probes, "doomed") == []
    pool = connect_pool(probes["urls"]["probesink"], min_size=1, max_size=1)
    try:
        with UnitOfWork(pool, "probesink") as unit:
            parked = inbox.list_parked(unit)
        assert [p["event_id"] for p in parked] == [event_id]
        assert "planned failure" in parked[0]["last_error"]
        # the operator mends the cause, then replays
        probes["query"]("probesink", "UPDATE planned_failures SET remaining = 0")
        with UnitOfWork(pool, "probesink") as unit:
            assert inbox.replay_parked(unit) == 1
    finally:
        pool.close()
    wait(lambda: effects(probes, "doomed"), timeout=20, message="the replayed event to take effect")
    assert len(effects(probes, "doomed")) == 1


def test_eight_concurrent_pg_sleeps_overlap(probes, rpc):
    """psycopg must not block the eventlet hub (PSYCOPG_WAIT_FUNC=wait_select)."""
    probes["start"](ProbeSource)
    started = time.monotonic()
    calls = [rpc.probesrc.sleep.call_async(1) for _ in range(8)]
    assert [c.result() for c in calls] == [1] * 8
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"8 concurrent pg_sleep(1) took {elapsed:.2f}s: the hub is blocked"


def test_an_undivided_unit_lets_no_other_greenthread_run_while_it_waits_and_never_waits_for_itself_for_long(
        probes):
    import eventlet

    from onewindow import db

    assert db.UNDIVIDED_WAIT_SECONDS < 0.3  # the waits below are longer
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=3)
    ticks = []
    ticking = eventlet.spawn(lambda: [ticks.append(eventlet.sleep(0.01)) for _ in range(1000)])
    try:
        def ticks_during(undivided, seconds=0.03):
            with UnitOfWork(pool, "probesrc") as unit:
                if undivided:
                    unit.undivided()
                before = len(ticks)
                unit.one("SELECT pg_sleep(%s)", (seconds,))
                return len(ticks) - before
        assert ticks_during(undivided=False, seconds=0.3) >= 10  # the hub ran the ticker meanwhile
        assert ticks_during(undivided=True) == 0
        assert ticks_during(undivided=False, seconds=0.3) >= 10  # back in the pool, it yields again
        # past UNDIVIDED_WAIT_SECONDS a wait yields like any other
        assert ticks_during(undivided=True, seconds=0.3) >= 10

        # a lock a yielded greenthread of this very process holds (what
        # undivided units must not wait for): a short stop, then it yields,
        # the holder commits, the waiter gets the lock
        def hold():
            with UnitOfWork(pool, "probesrc") as unit:
                unit.one("SELECT pg_advisory_xact_lock(72999)")
                eventlet.sleep(0.3)
        holder = eventlet.spawn(hold)
        eventlet.sleep(0.05)
        started = time.monotonic()
        with UnitOfWork(pool, "probesrc") as unit:
            unit.undivided()
            before = len(ticks)
            unit.one("SELECT pg_advisory_xact_lock(72999)")
            assert len(ticks) - before >= 10
        holder.wait()
        assert time.monotonic() - started < 2.0
    finally:
        ticking.kill()
        pool.close()


def test_a_pipelined_unit_sends_its_writes_and_commit_in_one_round_trip_and_still_fails_whole(probes):
    import greenlet

    from onewindow.errors import Conflict

    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=3)
    query = lambda sql, params=None: probes["query"]("probesrc", sql, params)  # noqa: E731
    try:
        def yields(pipelined, notes):
            """How often the unit gave the hub its turn (each time it may
            wait behind every other greenthread) to write `notes` and commit."""
            me, back = greenlet.getcurrent(), []
            with UnitOfWork(pool, "probesrc") as unit:
                unit.one("SELECT 1")
                if pipelined:
                    unit.pipelined()
                previous = greenlet.settrace(lambda event, args: back.append(args[1] is me))
                try:
                    for text in notes:
                        unit.execute("INSERT INTO notes (text) VALUES (%s)", (text,))
                    unit.commit()
                finally:
                    greenlet.settrace(previous)
            return sum(back)

        assert yields(False, [f"plain-{i}" for i in range(20)]) >= 21  # one per statement, one for the commit
        assert yields(True, [f"piped-{i}" for i in range(20)]) == 1  # all of them with the commit
        assert len(query("SELECT 1 FROM notes WHERE text LIKE 'piped-%%'")) == 20

        # a read in the pipeline sees the writes before it
        with UnitOfWork(pool, "probesrc") as unit:
            unit.pipelined()
            unit.execute("INSERT INTO notes (text) VALUES ('read-back')")
            assert unit.one("SELECT count(*) AS n FROM notes WHERE text = 'read-back'")["n"] == 1
            unit.rollback()
        assert query("SELECT 1 FROM notes WHERE text = 'read-back'") == []

        # a write that fails fails the commit, and nothing of the unit stays
        with pytest.raises(psycopg.errors.NotNullViolation):
            with UnitOfWork(pool, "probesrc") as unit:
                unit.pipelined()
                unit.execute("INSERT INTO notes (text) VALUES ('before-the-failure')")
                unit.execute("INSERT INTO notes (text) VALUES (NULL)")
                unit.execute("INSERT INTO notes (text) VALUES ('after-the-failure')")
        assert query("SELECT 1 FROM notes WHERE text LIKE '%%-the-failure'") == []

        # unique(): the violation still surfaces in its savepoint, the rest stands
        query("CREATE UNIQUE INDEX IF NOT EXISTS notes_text_once ON notes (text) WHERE text LIKE 'once-%%'")
        query("INSERT INTO notes (text) VALUES ('once-taken')")
        with UnitOfWork(pool, "probesrc") as unit:
            unit.pipelined()
            unit.execute("INSERT INTO notes (text) VALUES ('once-kept')")
            with pytest.raises(Conflict):
                with unit.unique("taken"):
                    unit.execute("INSERT INTO notes (text) VALUES ('once-taken')")
            unit.execute("INSERT INTO notes (text) VALUES ('once-after')")
        assert sorted(r["text"] for r in query("SELECT text FROM notes WHERE text LIKE 'once-%%'")) == [
            "once-after", "once-kept", "once-taken"]

        # the connection goes back to the pool out of pipeline mode, in no transaction
        with pool.connection() as conn:
            assert conn._pipeline is None and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    finally:
        pool.close()


def test_a_savepoint_cannot_open_a_unit_of_work(probes):
    """Opening the unit, psycopg's transaction block would be a transaction
    of its own, committed at its end: the unit's rollback would not undo it."""
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=2)
    query = lambda sql, params=None: probes["query"]("probesrc", sql, params)  # noqa: E731
    try:
        with UnitOfWork(pool, "probesrc") as unit:
            with pytest.raises(RuntimeError, match="cannot open a unit"):
                with unit.savepoint():
                    unit.execute("INSERT INTO notes (text) VALUES ('opened-by-savepoint')")
            unit.rollback()
        assert query("SELECT 1 FROM notes WHERE text = 'opened-by-savepoint'") == []

        # after a first statement, a savepoint is the unit's, undone with it
        with UnitOfWork(pool, "probesrc") as unit:
            unit.one("SELECT 1")
            with unit.savepoint():
                unit.execute("INSERT INTO notes (text) VALUES ('inside-the-unit')")
            unit.rollback()
        assert query("SELECT 1 FROM notes WHERE text = 'inside-the-unit'") == []
    finally:
        pool.close()
