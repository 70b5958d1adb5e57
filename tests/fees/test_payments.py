"""Paying, refunding and waiving the one bill; each idempotent on its ref."""
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from services.fees import metrics

from .conftest import fee


def counted(counter, *labels):
    return (counter.labels(*labels) if labels else counter)._value.get()


def ref():
    return uuid.uuid4().hex


def remote_error(call, *args):
    with pytest.raises(RemoteError) as err:
        call(*args)
    return err.value


def entries(fees_sql, bill_no):
    return fees_sql("SELECT e.kind, p.account, p.debit_fen, p.credit_fen, p.line_no FROM journal_entries e "
                    "JOIN postings p USING (entry_id) WHERE e.bill_no = %s ORDER BY e.entry_id, p.posting_id",
                    (bill_no,))


def events(fees_sql, event_type, bill_no):
    return [r["payload"] for r in fees_sql(
        "SELECT payload FROM outbox WHERE event_type = %s AND payload->>'bill_no' = %s ORDER BY id",
        (event_type, bill_no))]


def test_one_payment_books_each_line_to_its_department_and_sends_the_receipt(billed, rpc, fees_sql):
    bill = billed()
    before = (counted(metrics.RECEIVED_FEN, "fire"), counted(metrics.BILLS_PAID),
              metrics.BILL_TO_PAYMENT_SECONDS._sum.get())
    receipt = rpc.fees.pay(bill["bill_no"], 17000, "unionpay", ref())
    assert counted(metrics.RECEIVED_FEN, "fire") == before[0] + 12000
    assert counted(metrics.BILLS_PAID) == before[1] + 1
    assert metrics.BILL_TO_PAYMENT_SECONDS._sum.get() > before[2]
    assert receipt["receipt_no"].startswith("R") and receipt["method"] == "unionpay"
    assert receipt["amount_fen"] == receipt["total_fen"] == 17000 and receipt["status"] == "paid"
    assert [l["department"] for l in receipt["lines"]] == ["market", "fire"]
    assert rpc.fees.bill(bill["application_no"])["status"] == "paid"
    assert entries(fees_sql, bill["bill_no"]) == [
        {"kind": "payment", "account": "window-clearing", "debit_fen": 17000, "credit_fen": 0, "line_no": None},
        {"kind": "payment", "account": "TR-MARKET-001", "debit_fen": 0, "credit_fen": 5000, "line_no": 1},
        {"kind": "payment", "account": "TR-FIRE-002", "debit_fen": 0, "credit_fen": 12000, "line_no": 2},
    ]
    [paid] = events(fees_sql, "bill_paid", bill["bill_no"])
    assert paid["receipt_no"] == receipt["receipt_no"] and paid["method"] == "unionpay"
    assert paid["payment_ref"] == receipt["payment_ref"] and paid["paid_at"] and paid["total_fen"] == 17000
    assert [l["amount_fen"] for l in paid["lines"]] == [5000, 12000]
    assert paid["application_no"] == bill["application_no"]


def test_wrong_amount_names_the_expected_total_and_every_other_problem(billed, rpc, fees_sql):
    bill = billed()
    refused = counted(metrics.PAYMENT_FAILURES, "amount_mismatch")
    err = remote_error(rpc.fees.pay, bill["bill_no"], 16999, "cheque", "")
    assert counted(metrics.PAYMENT_FAILURES, "amount_mismatch") == refused + 1
    assert err.exc_type == "ValidationFailed"
    problems = json.loads(err.value)
    assert "17000" in " ".join(problems["amount_fen"])
    assert set(problems) == {"amount_fen", "method", "payment_ref"}
    assert rpc.fees.bill(bill["application_no"])["status"] == "unpaid"
    assert entries(fees_sql, bill["bill_no"]) == []
    assert remote_error(rpc.fees.pay, "B1999999999", 100, "cash", ref()).exc_type == "NotFound"


def test_repeated_payment_ref_returns_the_first_receipt_and_books_once(billed, rpc, fees_sql):
    bill = billed()
    payment_ref = ref()
    first = rpc.fees.pay(bill["bill_no"], 17000, "cash", payment_ref)
    again = rpc.fees.pay(bill["bill_no"], 17000, "cash", payment_ref)
    assert again == first
    assert len(entries(fees_sql, bill["bill_no"])) == 3
    assert len(events(fees_sql, "bill_paid", bill["bill_no"])) == 1


def test_two_identical_payments_at_the_same_instant_book_once(billed, rpc, fees_sql):
    bill = billed()
    payment_ref = ref()
    calls = [rpc.fees.pay.call_async(bill["bill_no"], 17000, "pos", payment_ref) for _ in range(2)]
    receipts = [call.result() for call in calls]
    assert receipts[0] == receipts[1]
    assert fees_sql("SELECT count(*) AS n FROM payments WHERE bill_no = %s", (bill["bill_no"],))[0]["n"] == 1
    assert fees_sql("SELECT count(*) AS n FROM journal_entries WHERE bill_no = %s", (bill["bill_no"],))[0]["n"] == 1
    assert len(events(fees_sql, "bill_paid", bill["bill_no"])) == 1


def test_a_different_second_payment_of_a_paid_bill_is_a_conflict(billed, rpc, fees_sql):
    bill = billed()
    payment_ref = ref()
    rpc.fees.pay(bill["bill_no"], 17000, "cash", payment_ref)
    assert remote_error(rpc.fees.pay, bill["bill_no"], 17000, "online", ref()).exc_type == "Conflict"
    # the same ref with other details is not a repeat either
    assert remote_error(rpc.fees.pay, bill["bill_no"], 17000, "online", payment_ref).exc_type == "Conflict"
    other = billed()
    assert remote_error(rpc.fees.pay, other["bill_no"], 17000, "cash", payment_ref).exc_type == "Conflict"
    assert rpc.fees.bill(other["application_no"])["status"] == "unpaid"
    assert len(entries(fees_sql, bill["bill_no"])) == 3
    # nor can a paid bill be waived: refund it instead
    assert remote_error(rpc.fees.waive, bill["bill_no"], "market", "late", ref()).exc_type == "Conflict"


def test_refund_books_every_line_back_once_and_the_bill_cannot_be_paid_again(billed, rpc, fees_sql):
    bill = billed()
    assert remote_error(rpc.fees.refund, bill["bill_no"], "not paid yet", ref()).exc_type == "Conflict"
    rpc.fees.pay(bill["bill_no"], 17000, "online", ref())
    refund_ref = ref()
    refund = rpc.fees.refund(bill["bill_no"], "application withdrawn", refund_ref)
    assert refund["status"] == "refunded" and refund["amount_fen"] == 17000 and refund["refund_no"].startswith("F")
    assert rpc.fees.refund(bill["bill_no"], "application withdrawn", refund_ref) == refund
    assert remote_error(rpc.fees.refund, bill["bill_no"], "again", ref()).exc_type == "Conflict"
    assert remote_error(rpc.fees.pay, bill["bill_no"], 17000, "cash", ref()).exc_type == "Conflict"
    assert [(r["account"], r["debit_fen"], r["credit_fen"]) for r in entries(fees_sql, bill["bill_no"])
            if r["kind"] == "refund"] == [("window-clearing", 0, 17000), ("TR-MARKET-001", 5000, 0),
                                          ("TR-FIRE-002", 12000, 0)]
    [refunded] = events(fees_sql, "bill_refunded", bill["bill_no"])
    assert refunded["reason"] == "application withdrawn" and refunded["refund_ref"] == refund_ref
    assert refunded["total_fen"] == 17000 and refunded["refunded_at"]
    assert rpc.fees.bill(bill["application_no"])["status"] == "refunded"


def test_waiver_by_the_lead_department_settles_the_bill_without_cash(billed, rpc, fees_sql):
    bill = billed()
    forbidden = remote_error(rpc.fees.waive, bill["bill_no"], "fire", "hardship", ref())
    assert forbidden.exc_type == "Forbidden"
    waiver_ref = ref()
    waiver = rpc.fees.waive(bill["bill_no"], "market", "disaster relief", waiver_ref)
    assert waiver["status"] == "waived" and waiver["department"] == "market"
    assert rpc.fees.waive(bill["bill_no"], "market", "disaster relief", waiver_ref) == waiver
    assert remote_error(rpc.fees.pay, bill["bill_no"], 17000, "cash", ref()).exc_type == "Conflict"
    assert remote_error(rpc.fees.refund, bill["bill_no"], "no", ref()).exc_type == "Conflict"
    assert entries(fees_sql, bill["bill_no"]) == []
    [waived] = events(fees_sql, "bill_waived", bill["bill_no"])
    assert waived["department"] == "market" and waived["reason"] == "disaster relief" and waived["waived_at"]
    shown = rpc.fees.bill(bill["application_no"])
    assert shown["status"] == "waived" and [h["action"] for h in shown["history"]] == ["issued", "waived"]
    assert shown["history"][-1]["actor"] == "market"


def test_instant_item_bill_is_waived_by_the_department_owning_every_line(billed, rpc):
    bill = billed([fee("F-HLT", "health", 800), fee("F-HLT2", "health", 200)], kind="instant")
    assert remote_error(rpc.fees.waive, bill["bill_no"], "market", "x", ref()).exc_type == "Forbidden"
    assert rpc.fees.waive(bill["bill_no"], "health", "low income", ref())["status"] == "waived"

