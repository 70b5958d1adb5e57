"""totals(start, end, group_by): fen received, refunded and net, with
year-on-year growth by month. Runs on its own database with back-dated books."""
import datetime
import json
import uuid
import zoneinfo

import pytest
from nameko.exceptions import RemoteError

from services.fees.service import FeesService

from .conftest import case_row, fee

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(*parts):
    return datetime.datetime(*parts, tzinfo=SHANGHAI)


def pay(store, lines, paid_at):
    case = case_row(lines)
    store.record_case(case)
    bill = store.issue_bill(store.case_for_update(case["application_no"]), at=paid_at)
    return store.record_payment(store.bill(bill["bill_no"], lock=True), bill["total_fen"], "cash",
                                uuid.uuid4().hex, at=paid_at)


@pytest.fixture
def history(extra_database, store_on, run_services):
    url = extra_database("fees")
    with store_on(url) as store:
        pay(store, [fee("F-MKT", "market", 5000)], at(2025, 3, 15, 10))
        pay(store, [fee("F-MKT", "market", 5000), fee("F-FIRE", "fire", 12000)], at(2026, 3, 10, 9))
        refunded = pay(store, [fee("F-HLT", "health", 800)], at(2026, 3, 11, 9))
        store.record_refund(store.bill(refunded["bill_no"], lock=True), "withdrawn", uuid.uuid4().hex,
                            at=at(2026, 3, 20, 16))
        # half past midnight in Beijing is still 31 March in UTC: booked on the centre's date
        pay(store, [fee("F-MKT2", "market", 3000)], at(2026, 4, 1, 0, 30))
    run_services(FeesService, fees={"DATABASE_URL": url})


def test_month_view_gives_year_on_year_growth(history, rpc):
    result = rpc.fees.totals("2026-03-01", "2026-04-30", "month")
    assert result["rows"] == [
        {"key": "2026-03", "received_fen": 17800, "refunded_fen": 800, "net_fen": 17000,
         "last_year_net_fen": 5000, "yoy_growth": 2.4},
        {"key": "2026-04", "received_fen": 3000, "refunded_fen": 0, "net_fen": 3000,
         "last_year_net_fen": None, "yoy_growth": None},
    ]
    assert result["total"] == {"received_fen": 20800, "refunded_fen": 800, "net_fen": 20000,
                               "last_year_net_fen": 5000, "yoy_growth": 3.0}


def test_totals_by_department_fee_code_account_and_day(history, rpc):
    by = {group: {r["key"]: (r["received_fen"], r["refunded_fen"], r["net_fen"])
                  for r in rpc.fees.totals("2026-03-01", "2026-04-30", group)["rows"]}
          for group in ("department", "fee_code", "treasury_account")}
    assert by["department"] == {"fire": (12000, 0, 12000), "health": (800, 800, 0), "market": (8000, 0, 8000)}
    assert by["fee_code"] == {"F-FIRE": (12000, 0, 12000), "F-HLT": (800, 800, 0), "F-MKT": (5000, 0, 5000),
                              "F-MKT2": (3000, 0, 3000)}
    assert by["treasury_account"] == {"TR-FIRE-002": (12000, 0, 12000), "TR-HEALTH-003": (800, 800, 0),
                                      "TR-MARKET-001": (8000, 0, 8000)}
    days = rpc.fees.totals("2026-03-01", "2026-04-01", "day")["rows"]
    assert [(r["key"], r["received_fen"], r["refunded_fen"]) for r in days] == [
        ("2026-03-10", 17000, 0), ("2026-03-11", 800, 0), ("2026-03-20", 0, 800), ("2026-04-01", 3000, 0)]
    empty = rpc.fees.totals("2020-01-01", "2020-12-31", "month")
    assert empty["rows"] == [] and empty["total"]["net_fen"] == 0 and empty["total"]["yoy_growth"] is None
    assert rpc.fees.check_ledger()["balanced"] is True
    # a bad period or grouping lists every problem
    with pytest.raises(RemoteError) as err:
        rpc.fees.totals("2026-13-01", "soon", "week")
    assert err.value.exc_type == "ValidationFailed"
    assert set(json.loads(err.value.value)) == {"start", "end", "group_by"}
    with pytest.raises(RemoteError) as err:
        rpc.fees.totals("2026-05-01", "2026-04-01", "day")
    assert set(json.loads(err.value.value)) == {"end"}
