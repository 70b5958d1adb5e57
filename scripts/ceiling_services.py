"""The bare nameko ceiling: an RPC that dispatches one event to a second
service, with nothing of ours in between (no database, no outbox, no inbox).
Run one side per process: `python -m scripts.ceiling_services caller|listener`."""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import sys  # noqa: E402

from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.rpc import rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402


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


def main(side):
    cls = {"caller": CeilingCaller, "listener": CeilingListener}[side]
    runner = ServiceRunner({"AMQP_URI": os.environ["AMQP_URI"], "max_workers": 20})
    runner.add_service(cls)
    runner.start()
    runner.wait()


if __name__ == "__main__":
    main(sys.argv[1])
