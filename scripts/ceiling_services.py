"""The two nameko ceilings the pipeline is measured against: an RPC that
dispatches one event to a second service.

- bare: nothing of ours in between (no database, no outbox, no inbox);
- durable: every RPC and every event handler also commits one small
  PostgreSQL transaction (one INSERT) through the project's own pool
  (onewindow.db.connect_pool), before it replies or returns. What our code
  adds over "durable nameko" is the pipeline's distance from this one.

Run one side per process:
`python -m scripts.ceiling_services caller|listener [bare|durable]`
(durable reads CEILING_DATABASE_URL, a database holding the `pings` table).
"""
import eventlet

eventlet.monkey_patch()

import onewindow  # noqa: E402,F401  (psycopg's eventlet wait, before psycopg loads)

import os  # noqa: E402
import sys  # noqa: E402

from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.extensions import DependencyProvider  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

PINGS_TABLE = "CREATE TABLE IF NOT EXISTS pings (id bigserial PRIMARY KEY, side text NOT NULL, n integer NOT NULL)"


class CeilingCaller:
    name = "ceiling_caller"
    dispatch = EventDispatcher()

    @rpc
    def ping(self, n):
        self.dispatch("pinged", {"n": n})
        return n


class CeilingListener:
    name = "ceiling_listener"
    received = 0

    @event_handler("ceiling_caller", "pinged")
    def on_pinged(self, payload):
        CeilingListener.received += 1

    @rpc
    def received_count(self):
        return CeilingListener.received


class Pings(DependencyProvider):
    """The project's pool; the worker gets `record(side, n)`, one committed INSERT."""

    def start(self):
        from onewindow import config
        from onewindow.db import connect_pool
        self.pool = connect_pool(os.environ["CEILING_DATABASE_URL"], max_size=config.db_pool_size(),
                                 name=self.container.service_name)

    def stop(self):
        self.pool.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        def record(side, n):
            with self.pool.connection() as conn:  # commits on leaving, before the reply or the ack
                conn.execute("INSERT INTO pings (side, n) VALUES (%s, %s)", (side, n))
        return record


class DurableCaller:
    name = "durable_caller"
    dispatch = EventDispatcher()
    record = Pings()

    @rpc
    def ping(self, n):
        self.record("rpc", n)
        self.dispatch("pinged", {"n": n})
        return n


class DurableListener:
    name = "durable_listener"
    received = 0
    record = Pings()

    @event_handler("durable_caller", "pinged")
    def on_pinged(self, payload):
        self.record("event", payload["n"])
        DurableListener.received += 1

    @rpc
    def received_count(self):
        return DurableListener.received


SIDES = {("caller", "bare"): CeilingCaller, ("listener", "bare"): CeilingListener,
         ("caller", "durable"): DurableCaller, ("listener", "durable"): DurableListener}


def main(side, kind="bare"):
    runner = ServiceRunner({"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 20})
    runner.add_service(SIDES[side, kind])
    runner.start()
    runner.wait()


if __name__ == "__main__":
    main(*sys.argv[1:])
