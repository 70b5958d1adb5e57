"""A sender's pass costs a few transactions however many texts it sends:
the claim counts every phone against its daily cap in one statement, and
what the senders finish is recorded together."""
import datetime

from services.notify.store import NotifyStore

from .conftest import STATUSES, new_phone
from .test_exactly_once import Recording, queue_messages, sender


def test_the_cap_gives_each_phone_what_is_left_of_it_in_one_statement(own_notify_db):
    _, units = own_notify_db
    day = datetime.date(2026, 12, 7)
    nearly_full, full, fresh = new_phone(), new_phone(), new_phone()
    with units() as unit:
        unit.execute("INSERT INTO phone_day_counts (phone, day, sent) VALUES (%s, %s, 2), (%s, %s, 3)",
                     (nearly_full, day, full, day))
    with units() as unit:
        given = NotifyStore(unit).count_against_cap({nearly_full: 2, full: 1, fresh: 5}, day, 3)
    assert given == {nearly_full: 1, full: 0, fresh: 3}
    with units() as unit:
        counts = {r["phone"]: r["sent"] for r in unit.all("SELECT phone, sent FROM phone_day_counts")}
    assert counts == {nearly_full: 3, full: 3, fresh: 3}


def test_a_pass_records_its_texts_together_not_one_transaction_each(own_notify_db):
    _, units = own_notify_db
    ids = queue_messages(units, 30)
    opened = []

    def counted_units():
        opened.append(1)
        return units()

    provider = Recording(seconds=0.0)
    assert sender(counted_units, provider, senders=4, daily_cap=50).run_once() == 30
    assert sorted(provider.asked) == sorted(ids)
    # the reconciler, the claim, the backlog gauge and the records, a few
    # texts each (the senders run only a few ahead of the record): one per
    # text before, 33 in all
    assert len(opened) <= 15, len(opened)
    with units() as unit:
        assert {r["status"] for r in unit.all("SELECT status FROM messages")} == {"sent"}
        assert unit.one("SELECT count(*) AS n FROM message_attempts WHERE outcome = 'sent'")["n"] == 30
        # every text's status told, one event for each record, not for each text
        assert unit.one(f"SELECT count(*) AS n {STATUSES}")["n"] == 30
        events = unit.one("SELECT count(*) AS n FROM outbox WHERE event_type = 'message_statuses'")["n"]
        assert events <= len(opened) < 30, events
        assert unit.one("SELECT sum(sent) AS n FROM phone_day_counts")["n"] == 30


def test_the_senders_run_only_a_few_texts_ahead_of_the_record(own_notify_db):
    """What was handed over and not recorded is asked again after a crash:
    the senders never get more than UNRECORDED_PER_SENDER each ahead."""
    _, units = own_notify_db
    queue_messages(units, 40)
    provider = Recording(seconds=0.0)
    pass_ = sender(units, provider, senders=2)
    recorded, most_ahead = [], []
    record = pass_.record

    def counted_record(attempts):
        record(attempts)
        recorded.extend(attempts)

    def send(message):
        most_ahead.append(len(provider.asked) - len(recorded))
        return Recording.send(provider, message)

    pass_.record, provider.send = counted_record, send
    assert pass_.run_once() == 40 and len(recorded) == 40
    assert max(most_ahead) <= pass_.UNRECORDED_PER_SENDER * 2
