"""fees domain rules on plain values."""
import datetime

import pytest

from onewindow.errors import Conflict, Forbidden, ValidationFailed
from services.fees import domain


def line(code, department, amount, account=None):
    return {"fee_code": code, "name": code, "department": department, "amount_fen": amount,
            "treasury_account": account or f"TR-{department}"}


LINES = domain.bill_lines([line("A", "market", 5000), line("Z", "fire", 0), line("B", "fire", 12000)])


def bill(status="unpaid", lines=LINES):
    return {"bill_no": "B2026000001", "status": status, "lines": lines, "total_fen": domain.bill_total(lines)}


def test_zero_fees_get_no_line_and_lines_are_numbered():
    assert [(l["line_no"], l["fee_code"]) for l in LINES] == [(1, "A"), (2, "B")]
    assert domain.bill_total(LINES) == 17000


@pytest.mark.parametrize("fees, free, kind, needs, at_once", [
    ([], False, "instant", False, False),
    ([line("A", "market", 0)], False, "instant", False, False),
    ([line("A", "market", 100)], True, "instant", False, False),
    ([line("A", "market", 100)], False, "instant", True, True),
    ([line("A", "market", 100)], False, "committed", True, False),
])
def test_which_cases_are_billed_and_when(fees, free, kind, needs, at_once):
    assert domain.needs_bill(fees, free) is needs
    assert domain.issue_at_acceptance(kind, fees, free) is at_once


def test_document_numbers_are_readable():
    assert domain.document_number("B", 2026, 123) == "B2026000123"


def test_payment_must_be_the_whole_total_and_names_it():
    with pytest.raises(ValidationFailed) as err:
        domain.check_payment(bill(), 16999)
    assert "17000" in err.value.problems["amount_fen"][0]
    domain.check_payment(bill(), 17000)


@pytest.mark.parametrize("status", ["paid", "waived", "refunded"])
def test_only_an_unpaid_bill_is_paid(status):
    with pytest.raises(Conflict):
        domain.check_payment(bill(status), 17000)
    assert domain.payment_failure_reason(bill(status), 17000) in ("already_paid", "waived", "refunded")


@pytest.mark.parametrize("status", ["unpaid", "waived", "refunded"])
def test_only_a_paid_bill_is_refunded(status):
    with pytest.raises(Conflict):
        domain.check_refund(bill(status))


def test_waiver_needs_the_lead_or_the_owner_of_every_line():
    domain.check_waiver(bill(), "market", lead_department="market")
    with pytest.raises(Forbidden):
        domain.check_waiver(bill(), "fire", lead_department="market")
    with pytest.raises(Forbidden):
        domain.check_waiver(bill(), "fire")
    single = bill(lines=domain.bill_lines([line("A", "health", 100), line("B", "health", 50)]))
    domain.check_waiver(single, "health")
    with pytest.raises(Conflict):
        domain.check_waiver(bill("paid"), "market", lead_department="market")


def test_payment_and_refund_entries_mirror_each_other_and_balance():
    pay = domain.payment_postings(LINES)
    back = domain.refund_postings(LINES)
    assert domain.entry_problems(pay) == [] and domain.entry_problems(back) == []
    assert [(p.account, p.debit_fen, p.credit_fen) for p in pay] == [
        ("window-clearing", 17000, 0), ("TR-market", 0, 5000), ("TR-fire", 0, 12000)]
    assert [(p.account, p.credit_fen, p.debit_fen) for p in back] == [
        (p.account, p.debit_fen, p.credit_fen) for p in pay]


def test_entry_problems_finds_one_sided_and_two_sided_postings():
    assert domain.entry_problems([domain.Posting("x", debit_fen=5)])
    assert domain.entry_problems([domain.Posting("x", debit_fen=5, credit_fen=5), domain.Posting("y")])


def test_growth_is_a_ratio_and_none_without_a_base():
    assert domain.growth(262, 100) == 1.62
    assert domain.growth(5, 0) is None and domain.growth(5, None) is None
    rows = domain.with_year_on_year([{"key": "2026-03", "net_fen": 300}, {"key": "2026-04", "net_fen": 1}],
                                    [{"key": "2025-03", "net_fen": 100}])
    assert [(r["last_year_net_fen"], r["yoy_growth"]) for r in rows] == [(100, 2.0), (None, None)]


def test_a_year_earlier_of_a_leap_day_is_the_28th():
    assert domain.a_year_earlier(datetime.date(2024, 2, 29)) == datetime.date(2023, 2, 28)


def test_period_problems_are_all_listed():
    with pytest.raises(ValidationFailed) as err:
        domain.check_period("2026-02-30", None, "year")
    assert set(err.value.problems) == {"start", "end", "group_by"}
    with pytest.raises(ValidationFailed) as err:
        domain.check_period("2026-03-02", "2026-03-01", "day")
    assert set(err.value.problems) == {"end"}
    assert domain.check_period("2026-03-01", "2026-03-01", "month") == (datetime.date(2026, 3, 1),) * 2


def test_figures_that_disagree_are_problems():
    good = {"debits_fen": 10, "credits_fen": 10, "clearing_fen": 7, "treasury_fen": 7, "received_fen": 9,
            "refunded_fen": 2, "held_for_paid_bills_fen": 7}
    assert domain.figure_problems(good) == []
    assert len(domain.figure_problems(dict(good, clearing_fen=8))) == 2
    assert domain.figure_problems(dict(good, credits_fen=11))
