"""One text per notice as far as any provider can tell: leases renewed before
each send, the same out_id on every attempt, no failover after a send that
may have gone out, receipts that come before the send is recorded, and the
local provider's independent witness."""
import dataclasses
import uuid

import eventlet
import pytest

from services.notify import domain, providers
from services.notify.dispatch import Sender
from services.notify.settings import Settings
from services.notify.store import NotifyStore

from .conftest import STATUSES, accepted, new_application_no, new_phone
from .test_providers import attempts_of, http_settings


class Recording:
    """A provider that takes its time and remembers every out_id it was asked."""

    name = "witness"

    def __init__(self, seconds=0.0, before_answer=None):
        self.seconds = seconds
        self.asked = []
        self.before_answer = before_answer
        self.in_flight, self.most_in_flight, self.phones_in_flight = 0, 0, set()
        self.overlapped = []  # phones sent to twice at once

    def send(self, message):
        self.asked.append(message["out_id"])
        if message["phone"] in self.phones_in_flight:
            self.overlapped.append(message["phone"])
        self.phones_in_flight.add(message["phone"])
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            eventlet.sleep(self.seconds)
        finally:
            self.in_flight -= 1
            self.phones_in_flight.discard(message["phone"])
        provider_message_id = f"w-{message['out_id']}"
        if self.before_answer:
            self.before_answer(provider_message_id)
        return provider_message_id


def queue_messages(units, count, phones=None):
    ids = [uuid.uuid4() for _ in range(count)]
    with units() as unit:
        for message_id in ids:
            unit.execute(
                "INSERT INTO messages (message_id, event_id, event_type, template, template_code, recipient_role, "
                "  phone, text, segments, provider) "
                "VALUES (%s, %s, 'application_accepted', 'accepted', 'OW_ACCEPTED', 'applicant', %s, 'text', 1, "
                "        'witness')", (message_id, str(uuid.uuid4()), phones.pop(0) if phones else new_phone()))
    return [str(i) for i in ids]


def sender(units, provider, **changes):
    changes.setdefault("senders", 1)  # one by one, unless a test says otherwise
    settings = dataclasses.replace(Settings.load({"OW_QUIET_HOURS": "", "OW_SMS_DAILY_CAP": "0"}),
                                   provider="witness", fallback="", **changes)
    return Sender(settings, units, {"witness": provider})


def test_a_batch_slower_than_its_lease_is_sent_once_beside_a_second_replica(own_notify_db):
    _, units = own_notify_db
    ids = queue_messages(units, 4)
    provider = Recording(seconds=0.5)
    first, second = sender(units, provider, sending_lease=0.8), sender(units, provider, sending_lease=0.8)
    batch = eventlet.spawn(first.run_once)  # 4 x 0.5 s one by one: longer than a lease

    def other_replica():
        for _ in range(12):
            eventlet.sleep(0.25)
            second.run_once()

    eventlet.spawn(other_replica).wait()
    batch.wait()
    assert sorted(provider.asked) == sorted(ids)  # each out_id asked once, by one replica or the other
    with units() as unit:
        assert {r["status"] for r in unit.all("SELECT status FROM messages")} == {"sent"}


def test_a_receipt_before_the_send_is_recorded_is_kept_and_applied(own_notify_db):
    from services.notify import cases
    _, units = own_notify_db
    [message_id] = queue_messages(units, 1)

    def receipt_first(provider_message_id):
        # the gateway calls back before our record of the send commits
        with units() as unit:
            cases.apply_receipt(NotifyStore(unit), {"provider_message_id": provider_message_id,
                                                    "status": "delivered", "reason": None})

    sender(units, Recording(before_answer=receipt_first)).run_once()
    with units() as unit:
        row = unit.one("SELECT status, delivered_at FROM messages WHERE message_id = %s", (message_id,))
        statuses = [r["m"]["status"] for r in unit.all(
            f"SELECT m {STATUSES} ORDER BY id, i")]
        assert unit.all("SELECT * FROM early_receipts") == []
    assert row["status"] == "delivered" and row["delivered_at"] is not None
    assert statuses == ["sent", "delivered"]


def test_after_a_read_timeout_the_message_never_goes_to_the_fallback(start_notify, gateway, publish_event, sent,
                                                                     notify_sql):
    slow, backup = gateway(slow_seconds=0.8), gateway()
    slow.script = ["timeout", "timeout", "timeout"]
    start_notify(SMS_PROVIDER="http", SMS_FALLBACK_PROVIDER="http_backup", SMS_FAILOVER_AFTER="2",
                 SMS_RETRY_BASE_SECONDS="0.1", **http_settings(slow), **http_settings(backup, "SMS_HTTP_BACKUP_"))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    # the slow gateway may have taken it each time: it is asked again under
    # the same out_id, and the backup never sees it
    assert backup.requests_for(phone) == []
    assert {r["out_id"] for r in slow.requests_for(phone)} == {message["message_id"]}
    assert message["provider"] == "http" and message["attempts"] == 4
    assert [a["outcome"] for a in attempts_of(notify_sql, message["message_id"])] == ["retry"] * 3 + ["sent"]


def test_a_refused_connection_is_known_to_have_failed_and_may_fail_over(start_notify, gateway, publish_event, sent):
    backup = gateway()
    start_notify(SMS_PROVIDER="http", SMS_FALLBACK_PROVIDER="http_backup", SMS_FAILOVER_AFTER="1",
                 SMS_HTTP_URL="http://127.0.0.1:9/sms/send", SMS_HTTP_KEY="k", SMS_HTTP_CONNECT_TIMEOUT="0.3",
                 **http_settings(backup, "SMS_HTTP_BACKUP_"))
    no, phone = new_application_no(), new_phone()
    publish_event("intake", "application_accepted", accepted(no, phone))
    [message] = sent(no, 1)
    assert message["provider"] == "http_backup" and len(backup.requests_for(phone)) == 1


def test_the_local_sink_witnesses_every_attempt_and_reaches_a_phone_once_per_out_id(tmp_path):
    path = str(tmp_path / "sink.sqlite")
    local = providers.LocalProvider(path)
    first = {"message_id": uuid.uuid4(), "event_id": "e1", "template": "accepted", "recipient_role": "applicant",
             "phone": "13800138000", "text": "x", "template_code": "OW_ACCEPTED"}
    again = dict(first, message_id=uuid.uuid4())  # a second message for the same notice
    for message in (first, first, again):
        local.send(dict(message, out_id=providers.out_id(message)))
    assert providers.sink_figures(path) == {"attempts": 3, "sends": 2, "sent_twice_for_one_event": 1,
                                            "out_ids_asked_more_than_once": 1}


def test_a_lease_is_renewed_only_once_half_of_it_has_gone(own_notify_db, monkeypatch):
    _, units = own_notify_db
    ids = queue_messages(units, 2)
    renewed = []
    renew = NotifyStore.renew_lease

    def counted(store, message_id, *args):
        renewed.append(str(message_id))
        return renew(store, message_id, *args)

    monkeypatch.setattr(NotifyStore, "renew_lease", counted)
    provider = Recording(seconds=0.3)
    # the first send starts at once (no renewal); the second 0.3 s after the
    # claim, past half of a 0.4 s lease (renewed first)
    assert sender(units, provider, sending_lease=0.4, batch=2).run_once() == 2
    assert sorted(provider.asked) == sorted(ids) and len(renewed) == 1
    with units() as unit:
        assert {r["status"] for r in unit.all("SELECT status FROM messages")} == {"sent"}


def test_a_send_recorded_after_another_sender_settled_it_keeps_the_attempt_and_leaves_the_receipt(own_notify_db):
    _, units = own_notify_db
    [message_id] = queue_messages(units, 1)
    with units() as unit:
        unit.execute("UPDATE messages SET status = 'failed', failed_at = now() WHERE message_id = %s", (message_id,))
        NotifyStore(unit).keep_early_receipt("w-late", "delivered")
    with units() as unit:
        [claimed] = unit.all("SELECT * FROM messages WHERE message_id = %s", (message_id,))
        assert NotifyStore(unit).record_sent([domain.Attempt(dict(claimed, attempts=1), "witness", 0.01,
                                                             "w-late")]) == []
    with units() as unit:
        assert unit.one("SELECT status FROM messages WHERE message_id = %s", (message_id,))["status"] == "failed"
        assert [r["outcome"] for r in unit.all("SELECT outcome FROM message_attempts WHERE message_id = %s",
                                               (message_id,))] == ["sent"]
        assert [r["provider_message_id"] for r in unit.all("SELECT * FROM early_receipts")] == ["w-late"]


def test_a_pass_sends_to_several_phones_at_once_and_to_each_phone_in_order(own_notify_db):
    _, units = own_notify_db
    same = new_phone()
    ordered = [queue_messages(units, 1, phones=[same])[0] for _ in range(3)]  # three moments, three texts
    others = queue_messages(units, 5)
    provider = Recording(seconds=0.05)
    assert sender(units, provider, senders=3).run_once() == 8
    assert sorted(provider.asked) == sorted(ordered + others)
    assert [i for i in provider.asked if i in ordered] == ordered  # one phone: in the order queued
    assert provider.overlapped == [] and provider.most_in_flight == 3
    with units() as unit:
        assert {r["status"] for r in unit.all("SELECT status FROM messages")} == {"sent"}
