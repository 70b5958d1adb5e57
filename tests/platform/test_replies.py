"""Replies go out on one kept channel per service process (entrypoints.
Replier), and one it cannot send still reaches its caller."""
import time

import amqp
import pytest

from onewindow import entrypoints
from tests.platform.probe import ProbeSource


@pytest.fixture
def replies(probes, monkeypatch):
    """The source's replier, and how many replies went nameko's way."""
    runner = probes["start"](ProbeSource)
    (container,) = runner.containers
    (replier,) = [e for e in container.shared_extensions.values() if isinstance(e, entrypoints.Replier)]
    slow = []
    send_response = entrypoints.UnconfirmedResponder.send_response

    def counted(self, result, exc_info):
        slow.append(result)
        return send_response(self, result, exc_info)
    monkeypatch.setattr(entrypoints.UnconfirmedResponder, "send_response", counted)
    return replier, slow


def test_replies_go_out_on_one_kept_channel(replies, rpc):
    replier, slow = replies
    rpc.probesrc.write_note("first")
    channel = replier._channel
    assert channel is not None and channel.is_open
    rpc.probesrc.write_note("second")
    with pytest.raises(Exception) as err:
        rpc.probesrc.write_note("undone", fail_after_write=True)
    assert err.value.exc_type == "ValidationFailed"  # errors too
    assert replier._channel is channel and slow == []


def test_a_reply_the_kept_connection_cannot_send_goes_nameko_s_way_and_the_next_opens_a_new_one(replies, rpc):
    replier, slow = replies
    rpc.probesrc.write_note("before")
    broken = replier._channel
    replier._connection.connection.sock.close()  # the broker gone from under it
    rpc.probesrc.write_note("through nameko")
    assert len(slow) == 1
    rpc.probesrc.write_note("after")
    assert len(slow) == 1 and replier._channel is not broken and replier._channel.is_open


def test_a_channel_the_broker_closed_is_noticed_before_it_swallows_a_reply(replies, rpc):
    replier, slow = replies
    rpc.probesrc.write_note("before")
    closed = replier._channel
    # a publish the broker refuses: it closes the channel, and says so only
    # to whoever reads the connection
    closed.basic_publish(amqp.Message("{}"), exchange="no-such-exchange", routing_key="x")
    time.sleep(0.3)
    rpc.probesrc.write_note("after the close")  # would be swallowed by the closed channel
    assert len(slow) == 1
    rpc.probesrc.write_note("on a new channel")
    assert len(slow) == 1 and replier._channel is not closed


def test_while_the_broker_refuses_a_new_connection_replies_go_nameko_s_way_without_waiting_for_one_each(
        replies, rpc, monkeypatch):
    replier, slow = replies
    monkeypatch.setattr(entrypoints.Replier, "PAUSE_AFTER_FAILED_CONNECT_SECONDS", 0.5)
    attempts = []

    def refused(self):
        attempts.append(1)
        raise ConnectionRefusedError("the broker refuses connections")
    monkeypatch.setattr(entrypoints.Replier, "_connect", refused)
    rpc.probesrc.write_note("first")  # the replier connects now, and cannot
    rpc.probesrc.write_note("within the pause")  # no second attempt
    assert len(attempts) == 1 and len(slow) == 2
    time.sleep(0.6)
    monkeypatch.undo()
    monkeypatch.setattr(entrypoints.UnconfirmedResponder, "send_response", lambda *a: pytest.fail("slow way"))
    rpc.probesrc.write_note("after the pause")  # the broker takes connections again
    assert replier._channel is not None and replier._channel.is_open
