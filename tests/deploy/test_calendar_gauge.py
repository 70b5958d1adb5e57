"""The gauge behind the "next year's holiday schedule not loaded" alert."""
import datetime

from prometheus_client import REGISTRY

from onewindow import workdays


def sample(service, year):
    return REGISTRY.get_sample_value("onewindow_calendar_year_loaded", {"service": service, "year": str(year)})


def test_a_shipped_year_is_known_and_an_unpublished_one_is_not():
    known = workdays.record_years_known("gauge-a", loaded_years=[], today=datetime.date(2026, 12, 1))
    assert known == {2026: True, 2027: False}
    assert sample("gauge-a", 2026) == 1
    assert sample("gauge-a", 2027) == 0


def test_loading_next_year_sets_it_to_one():
    workdays.record_years_known("gauge-b", loaded_years=[], today=datetime.date(2026, 12, 1))
    workdays.record_years_known("gauge-b", loaded_years=[2027], today=datetime.date(2026, 12, 2))
    assert sample("gauge-b", 2027) == 1


def test_the_year_just_gone_is_dropped_at_new_year():
    workdays.record_years_known("gauge-c", loaded_years=[2027], today=datetime.date(2026, 12, 31))
    workdays.record_years_known("gauge-c", loaded_years=[2027], today=datetime.date(2027, 1, 1))
    assert sample("gauge-c", 2026) is None
    assert sample("gauge-c", 2027) == 1
    assert sample("gauge-c", 2028) == 0


def test_without_a_date_it_uses_today_in_the_centres_zone():
    known = workdays.record_years_known("gauge-d", loaded_years=[])
    assert len(known) == 2
    this_year, next_year = sorted(known)
    assert next_year == this_year + 1
