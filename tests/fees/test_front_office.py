"""Fees of the second release against the real broker and database: legal
basis on every line, 减免 of single lines booked and checked, withdrawal
cancelling or refunding, reminders of unpaid bills."""
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from services.fees import domain

from .conftest import accepted_event, case_row, completed_event, fee


def ref():
    return uuid.uuid4().hex


def based(code, department, amount_fen):
    return dict(fee(code, department, amount_fen), legal_basis=f"《{code}收费标准》")


def events(fees_sql, event_type, application_no):
    return [r["payload"] for r in fees_sql("SELECT payload FROM outbox WHERE event_type = %s AND "
                                           "payload->>'application_no' = %s ORDER BY id",
                                           (event_type, application_no))]


def error(call, *args):
    with pytest.raises(RemoteError) as err:
        call(*args)
    return err.value


def test_single_lines_are_reduced_by_their_department_booked_and_paid_net(billed, rpc, fees_sql):
    bill = billed([based("F-MKT", "market", 5000), based("F-FIRE", "fire", 12000)])
    assert [line["legal_basis"] for line in bill["lines"]] == ["《F-MKT收费标准》", "《F-FIRE收费标准》"]
    no = bill["bill_no"]
    basis = "《关于对困难家庭减免行政事业性收费的通知》"
    assert error(rpc.fees.reduce, no, "fire", [{"fee_code": "F-MKT", "amount_fen": 1000, "legal_basis": basis}],
                 ref()).exc_type == "Forbidden"
    problem = error(rpc.fees.reduce, no, "market", [{"fee_code": "F-MKT", "amount_fen": 6000, "legal_basis": basis},
                                                     {"fee_code": "F-NONE", "amount_fen": 1, "legal_basis": basis},
                                                     {"fee_code": "F-MKT", "amount_fen": 0, "legal_basis": ""}], ref())
    assert problem.exc_type == "ValidationFailed"
    assert set(json.loads(problem.value)) == {"lines.2.amount_fen", "lines.2.legal_basis"}   # shape first
    problem = error(rpc.fees.reduce, no, "market", [{"fee_code": "F-MKT", "amount_fen": 6000, "legal_basis": basis},
                                                     {"fee_code": "F-NONE", "amount_fen": 1, "legal_basis": basis}],
                    ref())
    assert set(json.loads(problem.value)) == {"lines.0.amount_fen", "lines.1.fee_code"}

    key = ref()
    reduced = rpc.fees.reduce(no, "market", [{"fee_code": "F-MKT", "amount_fen": 2000, "legal_basis": basis}], key)
    assert (reduced["total_fen"], reduced["gross_fen"], reduced["status"]) == (15000, 17000, "unpaid")
    assert [(x["amount_fen"], x["original_fen"], x["reduced_fen"]) for x in reduced["lines"]] == [
        (3000, 5000, 2000), (12000, 12000, 0)]
    assert reduced["reduction"]["lines"] == [{"line_no": 1, "amount_fen": 2000, "legal_basis": basis}]
    assert rpc.fees.reduce(no, "market", [{"fee_code": "F-MKT", "amount_fen": 2000, "legal_basis": basis}],
                           key)["total_fen"] == 15000                                           # idempotent
    [event] = events(fees_sql, "bill_reduced", bill["application_no"])
    assert (event["total_fen"], event["reduced_fen"], event["department"]) == (15000, 2000, "market")
    ledger = rpc.fees.check_ledger()
    assert ledger["problems"] == [] and ledger["reductions_fen"] >= 2000

    assert error(rpc.fees.pay, no, 17000, "cash", ref()).exc_type == "ValidationFailed"
    rpc.fees.pay(no, 15000, "cash", ref())
    assert error(rpc.fees.reduce, no, "market", [{"fee_code": "F-MKT", "amount_fen": 1, "legal_basis": basis}],
                 ref()).exc_type == "Conflict"
    rows = fees_sql("SELECT p.department, p.credit_fen FROM postings p JOIN payments USING (entry_id) "
                    "WHERE payments.bill_no = %s AND p.line_no IS NOT NULL ORDER BY 1", (no,))
    assert [(r["department"], r["credit_fen"]) for r in rows] == [("fire", 12000), ("market", 3000)]
    rpc.fees.refund(no, "退费", ref())
    assert rpc.fees.check_ledger()["problems"] == []


def test_a_reduction_of_every_fen_is_a_waiver_and_the_bill_waived_is_announced(billed, rpc, fees_sql):
    bill = billed([based("F-MKT", "market", 5000)])
    problem = error(rpc.fees.reduce, bill["bill_no"], "market",
                    [{"fee_code": "F-MKT", "amount_fen": 5000, "legal_basis": "《减免办法》"}], ref())
    assert "lines" in json.loads(problem.value)
    rpc.fees.waive(bill["bill_no"], "market", "低保户", ref())
    [waived] = events(fees_sql, "bill_waived", bill["application_no"])
    assert waived["reason"] == "低保户"


def test_withdrawal_cancels_an_unpaid_bill_refunds_a_paid_one_and_stops_billing(fees, publish_event, rpc, wait,
                                                                                fees_sql, billed):
    def withdraw(no, accepted=True):
        return publish_event("intake", "application_withdrawn", {
            "application_no": no, "reason": "不办了", "withdrawn_on": "2026-03-05", "accepted": accepted})

    unpaid, paid = billed(), billed()
    rpc.fees.pay(paid["bill_no"], paid["total_fen"], "cash", ref())
    withdraw(unpaid["application_no"])
    withdraw(paid["application_no"])
    wait(lambda: rpc.fees.bill(unpaid["application_no"])["status"] == "cancelled", message="cancelled")
    wait(lambda: rpc.fees.bill(paid["application_no"])["status"] == "refunded", message="refunded")
    [cancelled] = events(fees_sql, "bill_cancelled", unpaid["application_no"])
    assert cancelled["reason"] == "申请人撤回：不办了"
    [refunded] = events(fees_sql, "bill_refunded", paid["application_no"])
    assert refunded["refund_ref"] == f"withdrawal-{paid['application_no']}"
    assert error(rpc.fees.pay, unpaid["bill_no"], unpaid["total_fen"], "cash", ref()).exc_type == "Conflict"

    # withdrawn while in review: the approval that follows issues no bill
    event = publish_event("intake", "application_accepted", accepted_event([based("F-MKT", "market", 5000)]))
    no = event["application_no"]
    withdraw(no)
    wait(lambda: fees_sql("SELECT withdrawn_on FROM fee_cases WHERE application_no = %s AND withdrawn_on IS NOT "
                          "NULL", (no,)), message="withdrawal recorded")
    done = publish_event("review", "review_completed", completed_event(no))
    wait(lambda: fees_sql("SELECT 1 FROM inbox WHERE event_id = %s AND status = 'done'", (done["event_id"],)),
         message="approval handled")
    assert error(rpc.fees.bill, no).exc_type == "NotFound"
    never = withdraw(f"T{uuid.uuid4().hex[:12].upper()}", accepted=False)   # never accepted: nothing to do
    wait(lambda: fees_sql("SELECT 1 FROM inbox WHERE event_id = %s AND status = 'done'", (never["event_id"],)),
         message="withdrawal of a case never accepted")
    assert rpc.fees.check_ledger()["problems"] == []


def test_an_unpaid_bill_is_reminded_once_after_the_working_days(billed, rpc, fees_sql):
    old, fresh = billed(), billed()
    fees_sql("UPDATE bills SET issued_at = issued_at - interval '10 days' WHERE bill_no = %s", (old["bill_no"],))
    first = rpc.fees.remind_unpaid()
    assert old["bill_no"] in first["reminded"] and fresh["bill_no"] not in first["reminded"]
    assert old["bill_no"] not in rpc.fees.remind_unpaid()["reminded"]
    [reminder] = events(fees_sql, "bill_reminder", old["application_no"])
    assert reminder["total_fen"] == old["total_fen"] and reminder["applicant"]["phone"]
    assert error(rpc.fees.remind_unpaid, "2099-01-01").exc_type == "ValidationFailed"


REDUCTION_TAMPERING = {
    "reduction line inflated": "UPDATE line_reductions SET amount_fen = amount_fen + 100 WHERE reduction_ref = "
                               "(SELECT max(reduction_ref) FROM reductions)",
    "reduction booked to a treasury account": "UPDATE postings SET account = 'TR-MARKET-001' WHERE posting_id = "
                                              "(SELECT max(posting_id) FROM postings WHERE account = 'fee-reductions')",
    "reduced bill due in full again": "UPDATE bills SET total_fen = gross_fen WHERE bill_no = "
                                      "(SELECT bill_no FROM reductions ORDER BY reduced_at DESC LIMIT 1)",
    "what applicants owe left out": "DELETE FROM postings WHERE account = 'applicants-due' AND entry_id = "
                                    "(SELECT max(entry_id) FROM reductions)",
}


@pytest.mark.parametrize("how", sorted(REDUCTION_TAMPERING))
def test_check_finds_reductions_tampered_with(platform_env, store_on, how):
    url = platform_env["databases"]["fees"]
    with store_on(url) as store:
        case = case_row([based("F-MKT", "market", 5000), based("F-FIRE", "fire", 12000)])
        store.record_case(case)
        bill = store.issue_bill(store.case_for_update(case["application_no"]))
        bill = store.bill(bill["bill_no"], lock=True)
        reduced = domain.check_reduction(bill, "market", [{"fee_code": "F-MKT", "amount_fen": 1500,
                                                           "legal_basis": "《减免办法》"}])
        bill = store.record_reduction(bill, "market", reduced, ref())
        store.record_payment(store.bill(bill["bill_no"], lock=True), 15500, "cash", ref())
    with store_on(url) as store:
        before = store.ledger_problems() + domain.figure_problems(store.ledger_figures())
        store.execute("SET LOCAL session_replication_role = replica")
        store.execute(REDUCTION_TAMPERING[how])
        after = store.ledger_problems() + domain.figure_problems(store.ledger_figures())
        store.unit.rollback()
    assert before == []
    assert after, f"{how} went unnoticed"
