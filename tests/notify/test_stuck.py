"""The gauge behind the "SMS stuck in queued / sending" alerts: how long the
oldest message free to go has waited, held ones (quiet hours) left out."""
import uuid

import pytest

from onewindow.db import UnitOfWork, connect_pool
from services.notify.store import NotifyStore


@pytest.fixture
def store(extra_database):
    pool = connect_pool(extra_database("notify"), min_size=1, max_size=1)
    unit = UnitOfWork(pool, "notify")
    try:
        yield NotifyStore(unit)
    finally:
        unit.rollback()
        pool.close()


def message(store, status, created_ago, updated_ago=None, not_before_in=None):
    store.unit.execute(
        "INSERT INTO messages (message_id, event_id, event_type, template, template_code, recipient_role, phone, "
        "  text, segments, status, provider, not_before, created_at, updated_at) "
        "VALUES (%s, %s, 'case_accepted', 'accepted', 'SMS_1', 'applicant', '13900000000', 't', 1, %s, 'local', "
        "  now() + make_interval(secs => %s), now() - make_interval(secs => %s), now() - make_interval(secs => %s))",
        (uuid.uuid4(), str(uuid.uuid4()), status, not_before_in, created_ago,
         created_ago if updated_ago is None else updated_ago))


def test_nothing_waiting_reads_zero(store):
    assert store.oldest_waiting() == {"queued": 0.0, "sending": 0.0}


def test_the_oldest_free_message_counts_and_held_ones_do_not(store):
    message(store, "queued", created_ago=600)
    message(store, "queued", created_ago=30)
    message(store, "queued", created_ago=7200, not_before_in=3600)   # held for quiet hours
    message(store, "sending", created_ago=900, updated_ago=120)      # handed over two minutes ago
    message(store, "sent", created_ago=9000)
    waiting = store.oldest_waiting()
    assert 599 <= waiting["queued"] <= 610
    assert 119 <= waiting["sending"] <= 130
