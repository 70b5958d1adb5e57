"""OW_QUEUE_TYPE=quorum makes the services' own queues quorum queues (their
RPC queue and every event consumer queue, however declared: by nameko or by
set-up) while nameko's RPC reply queues stay classic. In a vhost of its own,
as the queues of a vhost cannot change type."""
import shutil
import subprocess
import uuid

import pytest
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from onewindow import access, entrypoints, sandbox, topology
from onewindow.centre import Centre, Member
from onewindow.entrypoints import event_handler, rpc
from onewindow.principals import ANYONE


class Typed:
    name = "qtyped"

    @rpc(roles=ANYONE)
    def ping(self):
        return "pong"

    @event_handler("qsource", "happened")
    def on_happened(self, event):
        return None


def queue_types(vhost):
    done = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines() if "\t" in line]
    return {name: kind for name, kind in rows if name != "name"}


@pytest.fixture
def vhost():
    if shutil.which("rabbitmqctl") is None:
        pytest.fail("rabbitmqctl is needed to read queue types")
    name = sandbox.create_vhost(f"owq_{uuid.uuid4().hex[:8]}")
    assert name, "could not create a vhost"
    yield name
    sandbox.delete_vhost(name)


def test_quorum_for_the_services_queues_classic_for_replies(vhost, monkeypatch):
    monkeypatch.setenv("OW_QUEUE_TYPE", "quorum")
    uri = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subs = entrypoints.subscriptions([Typed])
    access.declare_topology(uri, Centre(Member("qtyped", f"{__name__}:Typed")))       # set-up declares first, RPC queue included ...
    runner = ServiceRunner({"AMQP_URI": uri, "serializer": "json"})
    runner.add_service(Typed)
    runner.start()                                    # ... nameko declares the same queues again
    try:
        with ClusterRpcProxy({"AMQP_URI": uri}, timeout=10) as proxy:
            assert proxy.qtyped.ping() == "pong"
            types = queue_types(vhost)
    finally:
        runner.kill()
    assert types["rpc-qtyped"] == "quorum"
    assert types[subs[0][2]] == "quorum"
    replies = {name: kind for name, kind in types.items() if name.startswith("rpc.reply-")}
    assert replies and set(replies.values()) == {"classic"}


def test_an_unknown_queue_type_is_refused(monkeypatch):
    monkeypatch.setenv("OW_QUEUE_TYPE", "stream")
    with pytest.raises(ValueError, match="OW_QUEUE_TYPE"):
        topology.queue_arguments()
