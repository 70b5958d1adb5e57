"""Property tests of the pure ledger: whatever happens to bills, the books
balance and the totals are payments less refunds."""
import datetime

from hypothesis import given, settings, strategies as st

from onewindow.errors import Conflict, Forbidden, ValidationFailed
from services.fees import domain

DEPARTMENTS = ("market", "fire", "health", "tax")

fee_lines = st.lists(
    st.builds(lambda code, department, amount, account: {
        "fee_code": f"F{code}", "name": f"fee {code}", "department": department, "amount_fen": amount,
        "treasury_account": f"TR-{department}-{account}"},
        st.integers(0, 20), st.sampled_from(DEPARTMENTS), st.integers(0, 5_000_000), st.integers(1, 2)),
    min_size=0, max_size=5,
)

actions = st.lists(st.one_of(
    st.tuples(st.just("issue"), fee_lines),
    st.tuples(st.just("pay"), st.integers(0, 30), st.integers(-2, 2), st.integers(0, 40)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(0, 40)),
    st.tuples(st.just("waive"), st.integers(0, 30), st.sampled_from(DEPARTMENTS)),
    st.tuples(st.just("book_on_day"), st.dates(datetime.date(2025, 1, 1), datetime.date(2026, 12, 31))),
), max_size=40)


def run(books, steps):
    """Apply the steps; refused ones (wrong amount, wrong state, wrong ref)
    must leave the books as they were. Returns what was paid and refunded."""
    paid = refunded = 0
    day = datetime.date(2026, 1, 5)
    for step in steps:
        bill_nos = sorted(books.bills)
        try:
            if step[0] == "issue":
                books.issue(domain.document_number("B", 2026, len(books.bills) + 1), step[1])
            elif step[0] == "book_on_day":
                day = step[1]
            elif not bill_nos:
                continue
            elif step[0] == "pay":
                bill_no = bill_nos[step[1] % len(bill_nos)]
                bill = books.bills[bill_no]
                was = bill["status"]
                amount = bill["total_fen"] + step[2]
                books.pay(bill_no, amount, f"P{step[3]}", booked_on=day)
                if was == "unpaid":
                    paid += amount
            elif step[0] == "refund":
                bill_no = bill_nos[step[1] % len(bill_nos)]
                was = books.bills[bill_no]["status"]
                books.refund(bill_no, f"R{step[2]}", booked_on=day)
                if was == "paid":
                    refunded += books.bills[bill_no]["total_fen"]
            elif step[0] == "waive":
                books.waive(bill_nos[step[1] % len(bill_nos)], step[2])
        except (Conflict, Forbidden, ValidationFailed):
            pass
    return paid, refunded


@settings(max_examples=300, deadline=None)
@given(actions)
def test_any_sequence_keeps_the_books_balanced_and_totals_equal_payments_less_refunds(steps):
    books = domain.Books()
    paid, refunded = run(books, steps)
    assert books.audit() == []
    for entry in books.entries:
        assert domain.entry_problems(entry.postings) == []
    balances = books.balances()
    assert sum(balances.values()) == 0  # every debit has its credit
    assert -balances.get(domain.CLEARING_ACCOUNT, 0) == paid - refunded
    for group_by in ("department", "fee_code", "treasury_account", "day", "month"):
        rows = books.totals(group_by).values()
        assert sum(r["received_fen"] for r in rows) == paid
        assert sum(r["refunded_fen"] for r in rows) == refunded
        assert sum(r["net_fen"] for r in rows) == paid - refunded
    # each treasury account holds exactly the lines of the bills still paid
    expected = {}
    for bill in books.bills.values():
        if bill["status"] == "paid":
            for line in bill["lines"]:
                expected[line["treasury_account"]] = expected.get(line["treasury_account"], 0) + line["amount_fen"]
    held = {a: v for a, v in balances.items() if a != domain.CLEARING_ACCOUNT and v}
    assert held == {a: v for a, v in expected.items() if v}


@settings(max_examples=200, deadline=None)
@given(actions, st.data())
def test_audit_notices_any_entry_dropped_or_doubled(steps, data):
    books = domain.Books()
    run(books, steps)
    if not books.entries:
        return
    index = data.draw(st.integers(0, len(books.entries) - 1))
    tampered = list(books.entries)
    if data.draw(st.booleans()):
        del tampered[index]
    else:
        tampered.append(tampered[index])
    assert domain.audit(books.bills, tampered) != []


@settings(max_examples=200, deadline=None)
@given(actions, st.data())
def test_audit_notices_a_posting_changed_by_one_fen(steps, data):
    books = domain.Books()
    run(books, steps)
    if not books.entries:
        return
    entry = data.draw(st.sampled_from(books.entries))
    i = data.draw(st.integers(0, len(entry.postings) - 1))
    p = entry.postings[i]
    changed = domain.Posting(p.account, p.debit_fen + (1 if p.debit_fen else 0),
                             p.credit_fen + (1 if p.credit_fen else 0), p.line_no, p.fee_code, p.department)
    tampered_entry = domain.Entry(entry.kind, entry.bill_no, entry.reference,
                                  entry.postings[:i] + [changed] + entry.postings[i + 1:], entry.booked_on)
    tampered = [tampered_entry if e is entry else e for e in books.entries]
    assert domain.audit(books.bills, tampered) != []
