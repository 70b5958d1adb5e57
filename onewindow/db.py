"""The database dependency: a psycopg 3 pool that cooperates with eventlet,
and one unit of work per worker.

The unit of work is committed by the entrypoint just before it replies or
acks (see entrypoints.py), not in nameko's worker_result, which runs after
the reply has gone: a caller must never hear "done" for a transaction that
then fails to commit.
"""
import onewindow  # noqa: F401  (sets PSYCOPG_WAIT_FUNC before psycopg loads)

import contextlib
import logging
import threading
import time

import psycopg
from eventlet import patcher
from eventlet.green import select as green_select
from eventlet.hubs import trampoline
from nameko.extensions import DependencyProvider
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg.waiting import READY_R, READY_W, WAIT_R, WAIT_W
from psycopg_pool import ConnectionPool

from . import config, logs, outbox, topology
from .errors import Conflict

log = logging.getLogger(__name__)

# The operating system's select, not eventlet's: a zero-timeout look at one
# socket must not go through the hub.
_select = patcher.original("select").select

IDLE = TransactionStatus.IDLE


def check_idle(conn):
    """The pool's check on every checkout, without a round trip: an idle
    connection has nothing to read unless the server closed it (a restart,
    a terminated backend) or sent a notice; only then is it asked, and a
    dead one is replaced before a worker gets it."""
    if conn.closed:
        raise psycopg.OperationalError("the connection is closed")
    readable, _, _ = _select([conn.fileno()], [], [], 0)
    if readable:
        ConnectionPool.check_connection(conn)


class Connection(psycopg.Connection):
    """psycopg's connection, except in how it waits for its socket: a wait
    for room to send (a pipeline's) first glances at the socket and goes on
    at once when it is ready, and while `undivided` is set a wait blocks
    the whole process (see UnitOfWork.undivided). Every other wait lets
    eventlet run another greenthread, as psycopg's wait_select does."""

    undivided = False

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is not None:
            return super().wait(gen, interval, timeout)
        return _wait(gen, self.pgconn.socket, interval, UNDIVIDED_WAIT_SECONDS if self.undivided else 0)


# How long one wait of an undivided unit may stop the process: far above a
# round trip to a local database, short enough that a wait for a lock some
# yielded greenthread of this process holds (a mistake: see
# UnitOfWork.undivided) costs a hiccup, not a process waiting for itself.
UNDIVIDED_WAIT_SECONDS = 0.05


def _wait(gen, fileno, interval, undivided_for):
    """psycopg's wait_select, for eventlet. For `undivided_for` seconds it
    waits with the operating system's select (an undivided unit); past
    that, through eventlet's hub with a trampoline on the one socket: a
    green select would also arm and cancel a timer and register lists of
    sockets at every wait, a third of a short transaction's client CPU
    (350-450 against 280-300 us for four round trips). A wait for room to send
    glances first: in a pipeline every statement waits so, the socket
    nearly always has room, and going round the hub for it would put the
    sender behind every other greenthread once per statement instead of
    once per round trip."""
    deadline = time.monotonic() + undivided_for
    try:
        state = next(gen)
        while True:
            wanted = ([fileno] if state & WAIT_R else [], [fileno] if state & WAIT_W else [], [fileno])
            left = deadline - time.monotonic()
            if left > 0:
                ready = _select(*wanted, min(interval, left))
            elif state & WAIT_W:
                ready = _select(*wanted, 0)
                if not any(ready) and state & WAIT_R:
                    # either will do: waiting to send alone, a pipeline whose
                    # answers filled the socket would wait for a server that
                    # waits for us to read them
                    ready = green_select.select(*wanted, interval)
                elif not any(ready):
                    trampoline(fileno, write=True)
                    ready = _select(*wanted, 0)
            else:
                trampoline(fileno, read=True)
                ready = ([fileno], [], [])
            readable, writable, broken = ready
            if broken:
                raise psycopg.OperationalError("connection socket closed")
            state = gen.send((READY_R if readable else 0) | (READY_W if writable else 0))
    except OSError as exc:
        raise psycopg.OperationalError("connection socket closed") from exc
    except StopIteration as done:
        return done.value


def connect_pool(url, *, min_size=2, max_size=20, name=None, wait=True):
    """`wait`: open the first connections now, or fail within 30 s; without
    it the pool connects in the background and a worker waits for it."""
    pool = ConnectionPool(
        url,
        connection_class=Connection,
        min_size=min_size,
        max_size=max_size,
        kwargs={"row_factory": dict_row, "options": f"-c timezone={config.time_zone()}"},
        check=check_idle,
        open=False,
        name=name,
        reconnect_timeout=30,
    )
    if wait:
        pool.open(wait=True, timeout=30)
    else:
        pool.open(wait=False)
    return pool


class UnitOfWork:
    """One transaction, opened on first use, that rolls back unless committed."""

    def __init__(self, pool, service_name, on_commit=None):
        self._pool = pool
        self._conn = None
        self.service_name = service_name
        self._on_commit = on_commit
        self.written = []  # outbox rows, handed to the relay once committed
        self.finished = False
        self._pipeline = None  # (context manager, Pipeline) while pipelined

    @property
    def conn(self):
        if self.finished:
            raise RuntimeError("unit of work already finished")
        if self._conn is None:
            self._conn = self._pool.getconn()
        return self._conn

    def execute(self, sql, params=None):
        return self.conn.execute(sql, params)

    def one(self, sql, params=None):
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql, params=None):
        return self.conn.execute(sql, params).fetchall()

    def execute_many(self, sql, rows):
        """One statement for each of `rows`, pipelined (psycopg's
        executemany)."""
        with self.conn.cursor() as cursor:
            cursor.executemany(sql, rows)

    def all_at_once(self, *queries):
        """Several reads, [(sql, params), ...], in one round trip (psycopg's
        pipeline mode) instead of one each: their rows, in order."""
        conn = self.conn
        with conn.pipeline():
            cursors = [conn.execute(sql, params) for sql, params in queries]
        return [cursor.fetchall() for cursor in cursors]

    @property
    def begun(self):
        """Whether this unit has a transaction open (it has run a statement)."""
        return self._conn is not None and self._conn.pgconn.transaction_status != IDLE

    def reads_alone(self, *queries):
        """Several reads, [(sql, params), ...], as one simple query: one
        round trip, their parameters bound here (psycopg's ClientCursor).
        As a unit's first work they go with their own BEGIN and COMMIT in
        the same text, one round trip instead of three, and a lock the first
        takes is held only while PostgreSQL runs the rest, never across a
        wait for this process. After other work (a caller's principal looked
        up first) they go in the unit's transaction, which the unit commits.
        The rows of each read, in order."""
        alone = not self.begun
        conn = self.conn
        if alone:
            conn.autocommit = True  # the BEGIN is ours, in the same text
        try:
            with psycopg.ClientCursor(conn) as cursor:
                texts = [cursor.mogrify(sql, params) for sql, params in queries]
                cursor.execute(";".join(["BEGIN", *texts, "COMMIT"] if alone else texts))
                results = []
                while True:
                    if cursor.description is not None:  # a read, not the BEGIN or COMMIT
                        results.append(cursor.fetchall())
                    if not cursor.nextset():
                        return results
        except BaseException:
            if alone:
                # an error leaves our BEGIN's transaction aborted, not ended
                with contextlib.suppress(psycopg.Error):
                    conn.rollback()
            raise
        finally:
            if alone:
                with contextlib.suppress(psycopg.Error):
                    conn.autocommit = False

    def undivided(self):
        """From here to the commit, a wait for PostgreSQL blocks the
        process instead of letting eventlet run another greenthread. For
        a unit about to take a lock that others queue for (the review
        feed's): yielding while it held the lock, the holder waited behind
        every other worker of its process at each round trip, and the queue
        behind the lock grew by as much; undivided, it holds it for a few
        round trips of a local database. The price: each of those round
        trips stops the whole process, which a busy process pays in its
        other work (for intake's gap-free number it cost more than the queue
        it saved: see IntakeStore.next_sequence).

        Only for locks no unit ever holds while yielding: waiting undivided
        for a lock that a yielded greenthread of the same process holds, the
        process would wait for itself. So every unit that takes such a lock
        takes it undivided and does no other I/O until it commits (no call
        to another service). A row other tables reference is no such lock:
        an insert that references it takes a share lock on it (the foreign
        key) and yields; a case row is one. Should one be missed, a wait
        yields after UNDIVIDED_WAIT_SECONDS, so the process never waits for
        itself for long."""
        self.conn.undivided = True

    def pipelined(self):
        """From here to the commit, a statement goes out without waiting for
        the one before to be answered, and the commit goes with whatever is
        still unanswered: the rest of the transaction costs one round trip
        to PostgreSQL plus one per read (psycopg's pipeline mode). For a unit
        that has just taken a lock others queue for (a gap-free number):
        under load a holder waits its turn in the process at every round
        trip, and the queue behind the lock grows by as much.

        A statement's error surfaces at the next read, savepoint or commit,
        not at the statement; and `execute(...).rowcount` is not known
        until then. So only for blind writes, which a use case does not look
        at again, and never for a write whose failure the use case catches
        other than through `unique()` (which syncs in its savepoint)."""
        if self._pipeline is None:
            manager = self.conn.pipeline()
            self._pipeline = (manager, manager.__enter__())

    def sync(self):
        """Wait for the answers to what was sent pipelined; raises the first
        error among them. Nothing to do, and no round trip, otherwise."""
        if self._pipeline is not None:
            self._pipeline[1].sync()

    def _leave_pipeline(self):
        """Out of pipeline mode. An error of a statement sent pipelined has
        been raised already (by the commit that ends the unit) or goes with
        the rollback that follows."""
        if self._pipeline is None:
            return
        (manager, _), self._pipeline = self._pipeline, None
        try:
            manager.__exit__(None, None, None)
        except psycopg.Error as exc:
            log.debug("a pipelined statement failed, undone with its transaction: %r", exc)

    def _end(self, conn, commit):
        """Commit or roll back conn's transaction; a pipeline ends with it
        (its unanswered statements go with the COMMIT, one round trip)."""
        # The commit's wait yields: once COMMIT is sent the server releases
        # the locks when it is done, whoever runs meanwhile, and an undivided
        # wait for the WAL to reach the disk would only stop the process.
        conn.undivided = False
        if not commit:
            self._leave_pipeline()
            conn.rollback()
            return
        try:
            if self._pipeline is not None:
                # Queued, not conn.commit(): that would sync, then leaving
                # the pipeline would sync again, two round trips for one.
                # Never prepared (PostgreSQL prepares no COMMIT).
                conn.execute("COMMIT", prepare=False)
                (manager, _), self._pipeline = self._pipeline, None
                manager.__exit__(None, None, None)  # raises what failed in the pipeline
            else:
                conn.commit()
        except BaseException:
            self._leave_pipeline()
            with contextlib.suppress(psycopg.Error):
                conn.rollback()
            raise

    def undo(self):
        """Roll back all this unit has done and go on in a fresh transaction.
        The inbox's failure path: cheaper over many events than a savepoint
        around every handler, which costs two statements when it succeeds."""
        if self._conn is not None:
            self._end(self._conn, commit=False)  # its locks went with the rollback
        self.written.clear()

    @contextlib.contextmanager
    def savepoint(self):
        """A nested transaction: an error inside undoes only what it did,
        events it wrote included (they must not reach the relay)."""
        if not self.begun:
            # psycopg would make it a transaction of its own, committed at
            # its end whatever the unit does next. A use case reads or
            # writes before it, as an RPC claims its key and an event its
            # inbox row; should one ever not, it fails here, not silently.
            raise RuntimeError("a savepoint cannot open a unit of work")
        mark = len(self.written)
        try:
            with self.conn.transaction():
                yield
                self.sync()  # what failed in the block fails it, here
        except BaseException:
            del self.written[mark:]
            raise

    @contextlib.contextmanager
    def unique(self, conflict):
        """A write keyed on a caller's idempotency reference, in a savepoint.
        The use case first looks the reference up (an earlier identical call
        gets its first answer again); this catches the call that takes the
        same reference at the same instant: what the block wrote is undone
        and the caller gets Conflict(conflict), the rest of the unit stands."""
        try:
            with self.savepoint():
                yield
        except UniqueViolation:
            raise Conflict(conflict) from None

    def checkpoint(self):
        """Commit what this unit has done so far, hand its events to the
        relay, and go on in a fresh transaction on the same connection. For
        a worker that handles several events one after the other (a batch
        that fell back to one transaction each: see inbox.consume_batch)."""
        if self.finished:
            raise RuntimeError("unit of work already finished")
        if self._conn is None:
            return
        self._end(self._conn, commit=True)
        self._hand_over()

    def _hand_over(self):
        """The events of the transaction just committed go to the relay."""
        written, self.written = self.written, []
        if written and self._on_commit:
            self._on_commit(written)

    def emit(self, event_type, payload, occurred_at=None):
        """Record an event in the outbox, in this transaction. Returns it with
        its event_id and occurred_at (now, or the given time of the fact)."""
        written = outbox.write(self, event_type, outbox.compose(payload, occurred_at))
        self.written.append(written)
        return written.event

    def finish(self, commit):
        if self.finished:
            return
        self.finished = True
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            self._end(conn, commit)
        finally:
            self._pool.putconn(conn)
        if commit:
            self._hand_over()

    def commit(self):
        self.finish(True)

    def rollback(self):
        self.finish(False)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.finish(exc_type is None)


class Database(DependencyProvider):
    """Hands each worker a UnitOfWork; runs the outbox relay of its service
    and its housekeeping (table sizes, retention)."""

    TABLE_SIZES_INTERVAL = 60.0
    READY_TIMEOUT = 60.0

    def __init__(self, store=None, **kwargs):
        # `store` (a Store subclass) wraps the unit of work in the service's
        # domain-named methods; without it the worker gets the bare UnitOfWork.
        # Services name this dependency `store`; nothing here depends on it.
        self.store = store
        self._units = {}
        self._lock = threading.Lock()
        super().__init__(**kwargs)

    def setup(self):
        self.service_name = self.container.service_name
        self.url = self.container.config.get("DATABASE_URL") or config.database_url(self.service_name)
        self.amqp_uri = self.container.config.get("AMQP_URI") or config.amqp_uri()
        self.pool = None
        self.relay = None
        self._housekeeping = False
        self._ready = threading.Event()

    def start(self):
        # Enough for the workers that really run SQL at once; PostgreSQL's
        # default of 100 connections is shared by every service and replica.
        size = int(self.container.config.get("DB_POOL_SIZE") or config.db_pool_size())
        # Not waiting: a service started while PostgreSQL is still recovering
        # (a supervisor restarts both after a crash) must not die of it; its
        # workers wait for a connection as they do when PostgreSQL goes away.
        self.pool = connect_pool(self.url, max_size=size, name=self.service_name, wait=False)
        self._ready.set()
        self.relay = outbox.Relay(self.service_name, self.pool, self.amqp_uri,
                                  subscriptions=self.container.config.get(topology.SUBSCRIPTIONS_KEY, ()))
        self.relay.declare_topology()
        self.container.spawn_managed_thread(self.relay.run, identifier=f"{self.service_name}.relay")
        self._housekeeping = True
        self.container.spawn_managed_thread(self.housekeeping, identifier=f"{self.service_name}.housekeeping")

    def housekeeping(self):
        """Table sizes for the dashboards every minute; retention (see
        onewindow.retention) every OW_PURGE_INTERVAL_SECONDS."""
        import eventlet

        from . import retention
        purged_at = time.monotonic()  # not at once: a restart loop must not purge in a loop
        while self._housekeeping:
            eventlet.sleep(self.TABLE_SIZES_INTERVAL)
            if not self._housekeeping:
                break
            try:
                interval = config.purge_interval_seconds()
                if interval > 0 and time.monotonic() - purged_at >= interval:
                    purged_at = time.monotonic()
                    with self.unit_of_work() as unit:
                        done = retention.purge(unit, self.store(unit) if self.store else None)
                    if done:
                        log.info("%s retention: %s", self.service_name, done)
                with self.unit_of_work() as unit:
                    retention.record_table_sizes(self.service_name, unit)
            except Exception:
                log.exception("%s housekeeping failed; trying again later", self.service_name)

    def stop(self):
        self._housekeeping = False
        if self.relay:
            self.relay.stop()
        if self.pool:
            self.pool.close()

    def kill(self):
        self.stop()

    def unit_of_work(self):
        """A unit of work outside any worker (for tests and commands)."""
        return UnitOfWork(self.pool, self.service_name, self.relay.hand_over if self.relay else None)

    def worker_setup(self, worker_ctx):
        # In the worker's own greenlet: every line it logs names its call and case.
        logs.enter(worker_ctx)

    def get_dependency(self, worker_ctx):
        # nameko starts entrypoints beside dependencies: a call may come in
        # while the pool still waits for PostgreSQL (a restart after a crash)
        if not self._ready.wait(self.READY_TIMEOUT):
            raise ConnectionError(f"{self.service_name}: the database is not reachable yet")
        unit = self.unit_of_work()
        self._units[worker_ctx] = unit
        return self.store(unit) if self.store else unit

    def finish(self, worker_ctx, exc_info):
        """Commit when the worker succeeded, else roll back. Raises if the
        commit fails, so the entrypoint reports the failure."""
        unit = self._units.pop(worker_ctx, None)
        if unit is not None:
            unit.finish(exc_info is None)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        # Entrypoints without a reply (timers) finish here.
        try:
            self.finish(worker_ctx, exc_info)
        except Exception:
            log.exception("commit failed for %s", worker_ctx)

    def worker_teardown(self, worker_ctx):
        unit = self._units.pop(worker_ctx, None)
        if unit is not None:
            unit.finish(False)


__all__ = ["Database", "UnitOfWork", "Jsonb", "connect_pool"]


class Store:
    """Base of each service's store: domain-named methods over one unit of
    work (a worker gets `Store(unit)` as `self.store`)."""

    def __init__(self, unit):
        self.unit = unit

    def emit(self, event_type, payload, occurred_at=None):
        return self.unit.emit(event_type, payload, occurred_at)

    def unique(self, conflict):
        return self.unit.unique(conflict)

    def one(self, sql, params=None):
        return self.unit.one(sql, params)

    def locked(self, sql, params=None):
        """`one()` for a read that takes a lock others queue for (a case, a
        bill, a gap-free counter): once it holds one, the rest of the unit
        goes pipelined (UnitOfWork.pipelined), so the lock is held for a
        round trip per read and one for all the writes and the commit, not
        one per statement. None, and nothing pipelined, when no row."""
        row = self.unit.one(sql, params)
        if row is not None:
            self.unit.pipelined()
        return row

    def all(self, sql, params=None):
        return self.unit.all(sql, params)

    def all_at_once(self, *queries):
        return self.unit.all_at_once(*queries)

    def reads_alone(self, *queries):
        return self.unit.reads_alone(*queries)

    def execute(self, sql, params=None):
        return self.unit.execute(sql, params)

    def execute_many(self, sql, rows):
        return self.unit.execute_many(sql, rows)
