"""The books: append-only, balanced, and check_ledger notices tampering."""
import uuid

import psycopg
import pytest

from services.fees import domain, metrics
from services.fees.service import FeesService

from .conftest import case_row, fee


def ref():
    return uuid.uuid4().hex


def paid_bill(store, lines=None, at=None):
    """A case billed and paid through the store, in the store's transaction."""
    case = case_row(lines or [fee("F-MKT", "market", 5000), fee("F-FIRE", "fire", 12000)])
    store.record_case(case)
    bill = store.issue_bill(store.case_for_update(case["application_no"]), at=at)
    return store.record_payment(store.bill(bill["bill_no"], lock=True), bill["total_fen"], "cash", ref(), at=at)


def test_check_ledger_is_balanced_after_payments_and_refunds(billed, rpc):
    paid, refunded = billed(), billed()
    rpc.fees.pay(paid["bill_no"], 17000, "cash", ref())
    rpc.fees.pay(refunded["bill_no"], 17000, "pos", ref())
    rpc.fees.refund(refunded["bill_no"], "withdrawn", ref())
    result = rpc.fees.check_ledger()
    assert result["problems"] == [] and result["balanced"] is True
    assert result["debits_fen"] == result["credits_fen"] > 0
    assert result["clearing_fen"] == result["received_fen"] - result["refunded_fen"] == result["treasury_fen"]
    assert metrics.LEDGER_BALANCED._value.get() == 1


@pytest.mark.parametrize("statement", [
    "UPDATE postings SET credit_fen = credit_fen + 1 WHERE posting_id = (SELECT max(posting_id) FROM postings)",
    "DELETE FROM postings WHERE posting_id = (SELECT max(posting_id) FROM postings)",
    "UPDATE journal_entries SET booked_on = booked_on - 1 WHERE entry_id = (SELECT max(entry_id) FROM journal_entries)",
    "DELETE FROM payments WHERE payment_ref = (SELECT min(payment_ref) FROM payments)",
    "TRUNCATE postings CASCADE",
])
def test_booked_money_cannot_be_changed_or_deleted(platform_env, store_on, statement):
    url = platform_env["databases"]["fees"]
    with store_on(url) as store:
        paid_bill(store)
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="append-only"):
        conn.execute(statement)


def test_an_unbalanced_entry_is_refused_at_commit(platform_env, store_on):
    url = platform_env["databases"]["fees"]
    with store_on(url) as store:
        entry = paid_bill(store)["payment"]
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.IntegrityConstraintViolation, match="not balanced"):
        conn.execute("INSERT INTO postings (entry_id, account, debit_fen) "
                     "SELECT entry_id, 'window-clearing', 1 FROM payments WHERE payment_ref = %s",
                     (entry["payment_ref"],))
        conn.commit()


TAMPERING = {
    "one line credited twice": "UPDATE postings SET credit_fen = credit_fen * 2 WHERE posting_id = "
                               "(SELECT max(posting_id) FROM postings WHERE line_no IS NOT NULL)",
    "a posting removed": "DELETE FROM postings WHERE posting_id = (SELECT max(posting_id) FROM postings)",
    "line moved to another account": "UPDATE postings SET account = 'TR-ELSEWHERE', credit_fen = credit_fen "
                                     "WHERE posting_id = (SELECT max(posting_id) FROM postings WHERE line_no IS NOT NULL)",
    "paid bill marked unpaid": "UPDATE bills SET status = 'unpaid' WHERE bill_no = "
                               "(SELECT max(bill_no) FROM bills WHERE status = 'paid')",
    "one-sided posting": "INSERT INTO postings (entry_id, account, credit_fen, line_no, fee_code, department) "
                         "SELECT max(entry_id), 'TR-MARKET-001', 100, 1, 'F-MKT', 'market' FROM journal_entries",
    "payment deleted": "DELETE FROM payments WHERE entry_id = (SELECT max(entry_id) FROM journal_entries)",
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_check_finds_books_tampered_with_behind_the_triggers(platform_env, store_on, how):
    url = platform_env["databases"]["fees"]
    with store_on(url) as store:
        paid_bill(store)
    with store_on(url) as store:
        before = store.ledger_problems()
        store.execute("SET LOCAL session_replication_role = replica")  # triggers off, this transaction only
        store.execute(TAMPERING[how])
        after = store.ledger_problems() + domain.figure_problems(store.ledger_figures())
        store.unit.rollback()
    assert before == []
    assert after, f"{how} went unnoticed"


def test_check_ledger_over_rpc_reports_tampered_books_and_lowers_the_gauge(
        extra_database, store_on, run_services, rpc):
    url = extra_database("fees")
    with store_on(url) as store:
        paid_bill(store)
        paid_bill(store, [fee("F-HLT", "health", 800)])
    run_services(FeesService, fees={"DATABASE_URL": url})
    assert rpc.fees.check_ledger()["balanced"] is True
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(TAMPERING["one-sided posting"])
    result = rpc.fees.check_ledger()
    assert result["balanced"] is False
    assert any("not balanced" in p for p in result["problems"])
    assert result["debits_fen"] != result["credits_fen"]
    assert metrics.LEDGER_BALANCED._value.get() == 0
