"""Delivery under faults: the relay goes on past a row it cannot deliver and
keeps what it did when the broker goes away; an event whose prerequisite has
not arrived waits for it instead of being parked."""
import json
import uuid

import psycopg
import pytest
from psycopg.types.json import Jsonb

from onewindow import entrypoints, topology
from onewindow.db import UnitOfWork, connect_pool
from onewindow.outbox import Relay
from tests.platform.conftest import effects
from tests.platform.probe import ProbeSink, ProbeSource


@pytest.fixture
def source_pool(probes):
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=2)
    yield pool
    pool.close()


def emit_notes(pool, *texts):
    with UnitOfWork(pool, "probesrc") as unit:
        return [unit.emit("note_written", {"text": text}) for text in texts]


def test_broker_gone_mid_batch_keeps_confirmed_rows_marked_and_records_the_error(probes, platform_env,
                                                                                   source_pool):
    first, second, third = emit_notes(source_pool, "one", "two", "three")
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])

    def publish_batch(messages):
        # the first is confirmed, then the broker goes away
        published = [json.loads(body)["event_id"] for body, *_ in messages]  # the payload as stored: text
        assert published == [e["event_id"] for e in (first, second, third)]
        return [None], ConnectionResetError("broker connection lost")

    relay._publish_batch = publish_batch
    with pytest.raises(ConnectionResetError):
        relay.publish_due()
    rows = {str(r["event_id"]): r for r in probes["query"]("probesrc", "SELECT * FROM outbox")}
    assert rows[first["event_id"]]["published_at"] is not None
    failed = rows[second["event_id"]]
    assert failed["published_at"] is None and failed["attempts"] == 1
    assert "ConnectionResetError" in failed["last_error"]
    assert rows[third["event_id"]]["published_at"] is None and rows[third["event_id"]]["attempts"] == 0


def test_redelivery_to_a_missing_queue_holds_back_only_its_own_event(probes, platform_env, wait):
    sink_queue = "evt-probesrc-note_written--probesink.on_note_written"
    probes["start"](ProbeSink)  # declares its queue, then consumes
    lost, kept = "no-such-consumer-queue", sink_queue
    pool = connect_pool(probes["urls"]["probesink"], min_size=1, max_size=2)
    try:
        with UnitOfWork(pool, "probesink") as unit:
            for consumer, event_id, text in ((lost, "aaaaaaaa-0000-0000-0000-000000000001", "to nowhere"),
                                             (kept, "aaaaaaaa-0000-0000-0000-000000000002", "redelivered")):
                unit.execute(
                    "INSERT INTO inbox (consumer, event_id, event_type, payload, status, attempts, "
                    "  next_attempt_at) VALUES (%s, %s, 'note_written', %s, 'retry', 1, now() - interval '1 s')",
                    (consumer, event_id, Jsonb({"event_id": event_id, "text": text})),
                )
        relay = Relay("probesink", pool, platform_env["amqp_uri"])
        relay.redeliver_due_retries()  # the missing queue must neither raise nor undo the other's lease
        relay.close()
    finally:
        pool.close()
    row = probes["query"]("probesink", "SELECT * FROM inbox WHERE consumer = %s", (lost,))[0]
    assert "unroutable" in row["last_error"] and row["status"] == "retry"
    wait(lambda: effects(probes, "redelivered"), message="the other event to be redelivered and applied")


def test_event_before_its_prerequisite_waits_past_every_retry_and_then_runs(probes, rpc, wait, monkeypatch):
    monkeypatch.setenv("OW_INBOX_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("OW_INBOX_WAIT_CAP_SECONDS", "0.3")
    probes["start"](ProbeSource, ProbeSink)
    event_id = rpc.probesrc.write_note("after:base")
    # more looks than a failing handler would get before being parked
    wait(lambda: probes["query"]("probesink", "SELECT 1 FROM inbox WHERE event_id = %s AND status = 'waiting' "
                                              "AND waits > 4", (event_id,)), timeout=20,
         message="the event to wait through more looks than retries")
    assert effects(probes, "after:base") == []
    rpc.probesrc.write_note("base")
    wait(lambda: effects(probes, "after:base"), timeout=20, message="the waiting event to run")
    row = probes["query"]("probesink", "SELECT * FROM inbox WHERE event_id = %s", (event_id,))[0]
    assert row["status"] == "done" and row["attempts"] == 1 and row["waiting_since"] is None
    assert probes["query"]("probesink", "SELECT 1 FROM inbox WHERE status = 'parked'") == []


def test_event_whose_prerequisite_never_comes_is_parked_when_the_wait_runs_out(probes, rpc, wait, monkeypatch):
    monkeypatch.setenv("OW_INBOX_WAIT_SECONDS", "1")
    monkeypatch.setenv("OW_INBOX_WAIT_CAP_SECONDS", "0.3")
    probes["start"](ProbeSource, ProbeSink)
    event_id = rpc.probesrc.write_note("after:never")
    row = wait(lambda: probes["query"]("probesink", "SELECT * FROM inbox WHERE event_id = %s AND status = 'parked'",
                                       (event_id,)), timeout=20, message="the event to be parked")[0]
    assert row["last_error"].startswith("waiting: note never not here yet")


def test_events_the_broker_keeps_refusing_never_hold_back_a_fresh_one(probes, platform_env, source_pool):
    refused = emit_refused(source_pool, 3)
    [fresh] = emit_notes(source_pool, "fresh")
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"], batch=2)
    published = []

    def publish_batch(messages):
        published.extend(json.loads(body)["event_id"] for body, *_ in messages)
        return [None] * len(messages), None

    relay._publish_batch = publish_batch
    relay.publish_due()  # one pass of two rows: the fresh event is one of them
    relay.close()
    assert published[0] == fresh["event_id"]
    assert len(refused) == 3


def emit_refused(pool, count, attempts=19):
    """Events refused many times already (no queue bound), due again now."""
    with UnitOfWork(pool, "probesrc") as unit:
        events = [unit.emit("nobody_listens", {"text": f"refused {i}"}) for i in range(count)]
        unit.execute("UPDATE outbox SET attempts = %s, last_error = 'unroutable: ', "
                     "next_attempt_at = now() - interval '1 second' WHERE event_type = 'nobody_listens'",
                     (attempts,))
    return events


def test_an_unroutable_event_is_looked_at_again_within_the_hour_not_every_minute(probes, platform_env,
                                                                                   source_pool):
    [event] = emit_refused(source_pool, 1)
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    relay.publish_due()  # the real broker: no queue bound to nobody_listens
    relay.close()
    row = probes["query"]("probesrc", "SELECT attempts, last_error, next_attempt_at - now() AS wait FROM outbox "
                                      "WHERE event_id = %s", (event["event_id"],))[0]
    assert row["attempts"] == 20 and row["last_error"].startswith("unroutable")
    assert 3000 < row["wait"].total_seconds() <= 3600


def test_an_event_no_service_listens_to_is_published_not_kept_as_a_backlog(probes, platform_env, source_pool):
    """The relay knows the centre's subscriptions: an event type nobody
    subscribes to (intake's application_rated, the hall's ticket_finished)
    goes out for observers and is done; one a service does listen to but
    whose queue is missing is still refused and kept."""
    with UnitOfWork(source_pool, "probesrc") as unit:
        unheard = unit.emit("nobody_listens", {"text": "rated"})
        missing = unit.emit("queue_missing", {"text": "heard"})
    subscriptions = [("probesrc", "queue_missing", "evt-probesrc-queue_missing--nobody.on_it"),
                     ("probesink", "nobody_listens", "evt-probesink-nobody_listens--x.on_it")]  # another source
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"], subscriptions=subscriptions)
    try:
        relay.publish_due()
    finally:
        relay.close()
    rows = {str(r["event_id"]): r for r in probes["query"]("probesrc", "SELECT * FROM outbox")}
    assert rows[unheard["event_id"]]["published_at"] is not None and rows[unheard["event_id"]]["last_error"] is None
    assert rows[missing["event_id"]]["published_at"] is None
    assert rows[missing["event_id"]]["last_error"].startswith("unroutable")


def test_one_batch_against_the_real_broker_marks_the_confirmed_and_keeps_the_refused(probes, platform_env,
                                                                                      source_pool):
    # confirms come for the whole batch at once; the returned one in the
    # middle must be told apart from its neighbours
    with UnitOfWork(source_pool, "probesrc") as unit:
        before = unit.emit("note_written", {"text": "batch one"})
        refused = unit.emit("nobody_listens", {"text": "batch two"})
        after = unit.emit("note_written", {"text": "batch three"})
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    try:
        assert relay.publish_due() == 3
        assert relay.publish_due() == 0  # the refused one waits for its backoff
    finally:
        relay.close()
    rows = {str(r["event_id"]): r for r in probes["query"]("probesrc", "SELECT * FROM outbox")}
    for event in (before, after):
        assert rows[event["event_id"]]["published_at"] is not None and rows[event["event_id"]]["attempts"] == 1
    kept = rows[refused["event_id"]]
    assert kept["published_at"] is None and kept["attempts"] == 1 and kept["last_error"].startswith("unroutable")


def test_a_pooled_connection_the_server_ended_is_replaced_before_a_worker_gets_it(probes, wait):
    # no round trip on checkout: what PostgreSQL closed (a restart, a
    # terminated backend) is seen on the socket and replaced
    pool = connect_pool(probes["urls"]["probesrc"], min_size=1, max_size=1)
    try:
        with pool.connection() as conn:
            pid = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        probes["query"]("probesrc", "SELECT pg_terminate_backend(%s)", (pid,))
        wait(lambda: not probes["query"]("probesrc", "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
             message="the backend to end")
        with pool.connection() as conn:
            assert conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"] != pid
    finally:
        pool.close()


def test_a_service_started_while_its_database_is_down_serves_once_it_is_back(platform_env, run_services, rpc,
                                                                               wait):
    """A supervisor restarts a service and PostgreSQL after a crash; the
    database may take longer than the service to come back. The service must
    start anyway and serve as soon as it is there, not die of it."""
    from onewindow import migrate
    from tests.conftest import ADMIN_DB
    from tests.platform.conftest import MIGRATIONS

    name = f"{platform_env['run_id']}_probesrc_late"
    url = f"{ADMIN_DB.rsplit('/', 1)[0]}/{name}"
    run_services(ProbeSource, probesrc={"DATABASE_URL": url})  # no such database yet
    migrate.create_database(ADMIN_DB, name)
    try:
        migrate.migrate("probesrc", MIGRATIONS, url)
        platform_env["sandbox"].add_database(url)  # the run's principals

        def written():
            try:
                return rpc.probesrc.write_note("after the database came back")
            except Exception:
                return None
        wait(written, timeout=60, message="the service to serve once its database is up")
    finally:
        platform_env["sandbox"].forget_database(url)
        migrate.drop_database(ADMIN_DB, name)


def test_a_committed_unit_hands_its_events_to_the_relay_which_publishes_them_without_a_sweep(
        probes, platform_env, source_pool, wait):
    probes["start"](ProbeSink)
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    relay.publish_due = None  # the sweep must not be what publishes them
    row = lambda event: probes["query"]("probesrc", "SELECT * FROM outbox WHERE event_id = %s",  # noqa: E731
                                        (event["event_id"],))[0]
    try:
        with UnitOfWork(source_pool, "probesrc", on_commit=relay.hand_over) as unit:
            event = unit.emit("note_written", {"text": "handed over"})
        with UnitOfWork(source_pool, "probesrc", on_commit=relay.hand_over) as unit:
            later = unit.emit("note_written", {"text": "handed over later"})
        relay.publish_handed()
        wait(lambda: effects(probes, "handed over"), message="the handed-over event to be applied")
        # published, but marked only with the others of the poll interval, in one statement
        assert row(event)["published_at"] is None and row(later)["published_at"] is None
        relay.mark_confirmed()
    finally:
        relay.close()
    assert row(event)["published_at"] is not None and row(event)["attempts"] == 1
    assert row(later)["published_at"] == row(event)["published_at"]


def test_events_of_a_rolled_back_savepoint_or_unit_are_never_handed_over(probes, source_pool):
    handed = []
    with UnitOfWork(source_pool, "probesrc", on_commit=handed.extend) as unit:
        kept = unit.emit("note_written", {"text": "kept"})
        with pytest.raises(RuntimeError):
            with unit.savepoint():
                unit.emit("note_written", {"text": "undone with its savepoint"})
                raise RuntimeError("the block failed")
    with pytest.raises(RuntimeError):
        with UnitOfWork(source_pool, "probesrc", on_commit=handed.extend) as unit:
            unit.emit("note_written", {"text": "undone with its unit"})
            raise RuntimeError("the worker failed")
    assert [w.event_id for w in handed] == [kept["event_id"]]
    stored = probes["query"]("probesrc", "SELECT event_id::text FROM outbox")
    assert [r["event_id"] for r in stored] == [kept["event_id"]]


def test_the_sweep_leaves_fresh_rows_to_the_fast_path_and_takes_them_once_settled(probes, platform_env,
                                                                                  source_pool):
    (event,) = emit_notes(source_pool, "written by a process that died before publishing")
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    try:
        assert relay.publish_due(settled_for=60) == 0
        probes["query"]("probesrc", "UPDATE outbox SET created_at = now() - interval '61 seconds'")
        assert relay.publish_due(settled_for=60) == 1
    finally:
        relay.close()
    row = probes["query"]("probesrc", "SELECT * FROM outbox WHERE event_id = %s", (event["event_id"],))[0]
    assert row["published_at"] is not None


def test_a_relay_pass_claims_only_when_its_look_finds_something_due(probes, platform_env, source_pool):
    """The sweep's and the redelivery's claims run only when one look says
    they would find something: an idle pass is one statement."""
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    claims = []
    relay.publish_due = lambda mark=None, settled_for=0.0: claims.append("sweep") or 0
    relay.redeliver_due_retries = lambda: claims.append("redelivery")

    def pass_claims():
        claims.clear()
        relay.sweep_pass()
        return claims

    assert pass_claims() == []
    emit_notes(source_pool, "fresh")  # the fast path's for SETTLE_SECONDS: not the sweep's yet
    assert pass_claims() == []
    probes["query"]("probesrc", "UPDATE outbox SET created_at = now() - interval '1 minute'")
    assert pass_claims() == ["sweep"]
    probes["query"]("probesrc", "UPDATE outbox SET next_attempt_at = now() + interval '1 minute'")  # backing off
    assert pass_claims() == []
    probes["query"]("probesrc", "INSERT INTO inbox (consumer, event_id, event_type, payload, status, attempts, "
                                "next_attempt_at) VALUES ('q', 'e1', 'note_written', '{}', 'waiting', 1, now())")
    assert pass_claims() == ["redelivery"]
    probes["query"]("probesrc", "UPDATE inbox SET status = 'parked'")
    assert pass_claims() == []


def test_a_handed_over_event_the_broker_refuses_keeps_its_error_for_the_sweep(probes, platform_env, source_pool):
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    try:
        with UnitOfWork(source_pool, "probesrc", on_commit=relay.hand_over) as unit:
            refused = unit.emit("nobody_listens", {"text": "no queue bound"})
            heard = unit.emit("note_written", {"text": "heard"})
        relay.publish_handed()
        relay.mark_confirmed()
    finally:
        relay.close()
    rows = {str(r["event_id"]): r for r in probes["query"]("probesrc", "SELECT * FROM outbox")}
    assert rows[heard["event_id"]]["published_at"] is not None
    kept = rows[refused["event_id"]]
    assert kept["published_at"] is None and kept["attempts"] == 1 and kept["last_error"].startswith("unroutable")
    assert kept["next_attempt_at"] > kept["created_at"]


def test_several_reads_at_once_come_back_in_order_and_a_failing_one_fails_the_unit(probes, source_pool):
    first, second = (f"{text}-{uuid.uuid4()}" for text in ("first", "second"))
    emit_notes(source_pool, first, second)
    mine = "SELECT payload->>'text' AS text FROM outbox WHERE payload->>'text' = ANY(%s) ORDER BY id"
    with UnitOfWork(source_pool, "probesrc") as unit:
        notes, nothing, count = unit.all_at_once(
            (mine, ([first, second],)),
            ("SELECT 1 AS x WHERE false", None),
            ("SELECT count(*) AS n FROM outbox WHERE payload->>'text' = %s", (second,)),
        )
    assert [r["text"] for r in notes] == [first, second] and nothing == [] and count[0]["n"] == 1
    undone = f"undone-{uuid.uuid4()}"
    with pytest.raises(psycopg.errors.DivisionByZero):
        with UnitOfWork(source_pool, "probesrc") as unit:
            unit.emit("note_written", {"text": undone})
            unit.all_at_once(("SELECT 1 AS x", None), ("SELECT 1 / 0 AS y", None))
    assert probes["query"]("probesrc", mine, ([undone],)) == []


def test_reads_alone_hold_a_lock_only_while_they_run_or_to_the_units_commit_after_other_work(probes, source_pool):
    """As a unit's first work the reads, their BEGIN and COMMIT are one
    query: in one transaction, and the lock the first took is free again
    before the unit ends. After other work they are the unit's, lock too."""
    lock = 7_700_000 + uuid.uuid4().int % 100_000
    take = ("SELECT pg_advisory_xact_lock(%s)", (lock,))
    now = ("SELECT now() AS at, %s::text AS quoted", ("it's 100% \\ '{}'",))

    def free_elsewhere():
        with psycopg.connect(probes["urls"]["probesrc"], autocommit=True) as other:
            return other.execute("SELECT pg_try_advisory_lock(%s)", (lock,)).fetchone()[0] and \
                other.execute("SELECT pg_advisory_unlock(%s)", (lock,)).fetchone()[0]

    with UnitOfWork(source_pool, "probesrc") as unit:
        _, first, second = unit.reads_alone(take, now, now)
        assert first[0]["at"] == second[0]["at"]  # one transaction
        assert first[0]["quoted"] == "it's 100% \\ '{}'"  # bound here, and bound right
        assert free_elsewhere()  # its COMMIT went with it
        assert not unit.conn.autocommit and unit.one("SELECT 2 AS n")["n"] == 2
    with UnitOfWork(source_pool, "probesrc") as unit:
        unit.one("SELECT 1 AS n")  # a principal looked up first
        unit.reads_alone(take, now)
        assert not free_elsewhere()  # the unit's until it commits
    assert free_elsewhere()
    with pytest.raises(psycopg.errors.DivisionByZero):
        with UnitOfWork(source_pool, "probesrc") as unit:
            unit.reads_alone(take, ("SELECT 1 / 0 AS y", None))
    assert free_elsewhere()
    with UnitOfWork(source_pool, "probesrc") as unit:  # the connection went back usable
        assert unit.reads_alone(("SELECT 3 AS n", None)) == [[{"n": 3}]]


def test_a_repeatable_handler_leaves_no_inbox_row_when_it_succeeds_and_is_kept_like_any_other_when_it_fails(
        probes, source_pool):
    from onewindow import inbox

    ran = []

    def deliver(event, fail=False, redelivery=False):
        def handler():
            ran.append(event["event_id"])
            if fail:
                raise RuntimeError("planned failure")
        with UnitOfWork(source_pool, "probesrc") as unit:
            return inbox.consume(unit, "repeatable", "note_written", event, handler, redelivery, repeatable=True)

    rows = lambda event: probes["query"](  # noqa: E731
        "probesrc", "SELECT status, attempts, payload FROM inbox WHERE event_id = %s", (event["event_id"],))
    quiet, failing = ({"event_id": str(uuid.uuid4()), "text": text} for text in ("quiet", "failing"))
    assert deliver(quiet) and deliver(quiet)  # a duplicate just runs again
    assert ran == [quiet["event_id"]] * 2 and rows(quiet) == []

    assert not deliver(failing, fail=True)
    (kept,) = rows(failing)
    assert kept["status"] == "retry" and kept["attempts"] == 1 and kept["payload"] == failing
    assert deliver(failing, redelivery=True)  # the relay's redelivery marks it done
    (kept,) = rows(failing)
    assert kept["status"] == "done" and kept["attempts"] == 2


def batch_metric(name, consumer):
    from prometheus_client import REGISTRY
    labels = {"service": "probesink", "consumer": consumer}
    if name.endswith("_bucket"):
        labels["le"] = "1.0"  # transactions of one event
    return REGISTRY.get_sample_value(name, labels) or 0


def test_a_batch_commits_its_events_in_one_transaction_and_when_one_fails_runs_each_alone(probes, platform_env):
    from onewindow import inbox

    pool = connect_pool(probes["urls"]["probesink"], min_size=1, max_size=2)
    try:
        def run(texts, failing=()):
            events = [{"event_id": str(uuid.uuid4()), "text": text} for text in texts]
            with UnitOfWork(pool, "probesink") as unit:
                def effect(event):
                    def handle():
                        unit.execute("INSERT INTO effects (event_id, text) VALUES (%s, %s)",
                                     (event["event_id"], event["text"]))
                        if event["text"] in failing:
                            raise RuntimeError("planned failure")
                    return handle
                inbox.consume_batch(unit, "batched", "note_written", [(e, effect(e), False) for e in events])
            return {e["text"]: probes["query"](
                "probesink", "SELECT i.status, i.xmin::text AS tx, count(f.id) AS effects FROM inbox i "
                             "LEFT JOIN effects f ON f.event_id = i.event_id WHERE i.event_id = %s "
                             "GROUP BY i.status, i.xmin", (e["event_id"],))[0] for e in events}

        splits = batch_metric("onewindow_inbox_batches_split_total", "batched")
        together = run(["b1", "b2", "b3"])
        assert {r["status"] for r in together.values()} == {"done"}
        assert [r["effects"] for r in together.values()] == [1, 1, 1]
        assert len({r["tx"] for r in together.values()}) == 1  # one transaction
        assert batch_metric("onewindow_inbox_batches_split_total", "batched") == splits

        apart = run(["c1", "c2", "c3"], failing={"c2"})
        assert apart["c1"]["status"] == apart["c3"]["status"] == "done"
        assert apart["c1"]["effects"] == apart["c3"]["effects"] == 1
        # the failure is kept for its retry and its effect undone, the others' not
        assert apart["c2"]["status"] == "retry" and apart["c2"]["effects"] == 0
        assert len({r["tx"] for r in apart.values()}) == 3  # each alone
        assert batch_metric("onewindow_inbox_batches_split_total", "batched") == splits + 1
    finally:
        pool.close()


def test_batches_that_lock_rows_in_their_events_order_never_wait_for_each_other_in_a_circle(probes, platform_env):
    """Two batches of one case's rows, arrived in opposite orders (two
    queues), each holding its first lock while it takes its second: in
    arrival order they deadlock, PostgreSQL kills one and it is split and
    run again; in `lock_order` the second waits for the first and both
    commit whole."""
    import eventlet

    from onewindow import inbox

    rows = [f"lock-{uuid.uuid4().hex[:8]}-{side}" for side in ("a", "b")]
    for row in rows:
        probes["query"]("probesink", "INSERT INTO planned_failures (text, remaining) VALUES (%s, 0)", (row,))
    pool = connect_pool(probes["urls"]["probesink"], min_size=2, max_size=2)
    try:
        def batch(order, lock_order):
            events = [{"event_id": str(uuid.uuid4()), "row": rows[i]} for i in order]
            with UnitOfWork(pool, "probesink") as unit:
                def effect(event):
                    def handle():
                        unit.one("SELECT 1 FROM planned_failures WHERE text = %s FOR UPDATE", (event["row"],))
                        eventlet.sleep(0.3)  # the other batch takes its first lock meanwhile
                    return handle
                inbox.consume_batch(unit, "ordered", "note_written", [(e, effect(e), False) for e in events],
                                    repeatable=True, lock_order=lock_order)

        def both(lock_order):
            splits = batch_metric("onewindow_inbox_batches_split_total", "ordered")
            first = eventlet.spawn(batch, [0, 1], lock_order)
            second = eventlet.spawn(batch, [1, 0], lock_order)
            first.wait(), second.wait()
            return batch_metric("onewindow_inbox_batches_split_total", "ordered") - splits

        assert both(lock_order=None) == 1  # the deadlock, undone and run apart
        assert both(lock_order="row") == 0
    finally:
        pool.close()


def test_a_batched_handler_takes_a_backlog_in_few_transactions_and_loses_nothing_to_a_failure(
        probes, platform_env, source_pool, wait):
    from tests.platform.probe import ProbeBatchSink

    (_, _, queue), = entrypoints.subscriptions([ProbeBatchSink])
    topology.declare(platform_env["amqp_uri"], entrypoints.subscriptions([ProbeBatchSink]))
    probes["query"]("probesink", "INSERT INTO planned_failures (text, remaining) VALUES ('n-7', 1)")
    texts = [f"n-{i}" for i in range(40)]
    emitted = emit_notes(source_pool, *texts)
    relay = Relay("probesrc", source_pool, platform_env["amqp_uri"])
    try:
        relay.publish_due()  # the backlog waits in the queue
    finally:
        relay.close()
    observed = lambda: [batch_metric("onewindow_inbox_batch_events_" + name, queue)  # noqa: E731
                        for name in ("count", "sum", "bucket")]
    before = observed()
    probes["start"](ProbeBatchSink)
    wait(lambda: len(probes["query"]("probesink", "SELECT 1 FROM effects WHERE text LIKE 'n-%%'")) == 40,
         timeout=30, message="every note's effect, the failed one's after its retry")
    counts = probes["query"]("probesink", "SELECT text, count(*) AS n FROM effects GROUP BY text")
    assert {r["text"]: r["n"] for r in counts if r["text"] in texts} == {t: 1 for t in texts}
    rows = probes["query"]("probesink", "SELECT status FROM inbox WHERE event_id = ANY(%s)",
                           ([e["event_id"] for e in emitted],))
    assert [r["status"] for r in rows] == ["done"] * 40
    transactions, handled, alone = (after - earlier for after, earlier in zip(observed(), before))
    # The batch that held n-7 ran again one event at a time; the rest went
    # in batches as large as the prefetch lets (20 a consumer).
    assert handled >= 40 and transactions <= 25 and transactions - alone >= 1, (transactions, handled, alone)


def test_a_write_a_handler_sent_pipelined_fails_the_handler_and_is_kept_for_retry(probes, source_pool):
    """Not at the commit, where the whole delivery would fail and go back
    to the queue again and again instead of being retried and parked."""
    from onewindow import inbox

    event = {"event_id": str(uuid.uuid4()), "text": "pipelined"}
    with UnitOfWork(source_pool, "probesrc") as unit:
        def handler():
            unit.pipelined()  # as a store does once it holds a case
            unit.execute("INSERT INTO notes (text) VALUES (NULL)")
        assert inbox.consume(unit, "pipelined", "note_written", event, handler) is False
    (row,) = probes["query"]("probesrc", "SELECT status, last_error FROM inbox WHERE event_id = %s",
                             (event["event_id"],))
    assert row["status"] == "retry" and row["last_error"].startswith("NotNullViolation")
