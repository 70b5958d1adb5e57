"""Events carry the centre's zone whatever the process's own zone is."""
import datetime
import time

import pytest

from onewindow import config, outbox


@pytest.fixture
def process_in_utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_an_event_recorded_in_a_utc_process_carries_the_centres_zone(process_in_utc):
    event = outbox.compose({})
    assert event["occurred_at"].endswith("+08:00")


def test_an_event_can_carry_the_time_of_an_earlier_fact(process_in_utc):
    fact = datetime.datetime(2026, 3, 2, 15, 55, tzinfo=datetime.timezone.utc)
    assert outbox.compose({}, occurred_at=fact)["occurred_at"] == \
        "2026-03-02T23:55:00+08:00"


def test_the_process_takes_the_configured_zone(process_in_utc, monkeypatch):
    monkeypatch.setenv("OW_TIME_ZONE", "Asia/Shanghai")
    config.apply_time_zone()
    assert time.localtime(0).tm_hour == 8
