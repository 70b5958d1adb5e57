"""What fees does with a case's bill: the use cases behind the entrypoints.

One combined bill per case (一个窗口收费), one payment for every department,
each fen booked to its department's treasury account (收支两条线). Each
function works on one FeesStore (one transaction); no nameko here.
"""
import datetime

import psycopg

from onewindow.errors import Conflict, NotFound, ValidationFailed
from onewindow.validation import load

from . import domain, metrics, schemas
from .store import local_now


class CaseNotYetKnown(Exception):
    """review_completed came before intake's application_accepted (another
    queue); the inbox retries it later."""


def line_view(line):
    return {k: line[k] for k in ("line_no", "fee_code", "name", "department", "amount_fen", "treasury_account")}


def bill_view(bill):
    view = {k: bill[k] for k in ("bill_no", "application_no", "item_code", "item_name", "total_fen", "status",
                                 "issued_at", "paid_at", "refunded_at", "waived_at")}
    view["lines"] = [line_view(line) for line in bill["lines"]]
    view["payment"] = bill["payment"]
    view["refund"] = bill["refund"]
    view["waiver"] = bill["waiver"]
    view["history"] = bill["history"]
    return view


def receipt_view(bill):
    """The payment receipt (收费票据) of a paid bill."""
    payment = bill["payment"]
    return {
        "receipt_no": payment["receipt_no"], "bill_no": bill["bill_no"],
        "application_no": bill["application_no"], "item_code": bill["item_code"],
        "item_name": bill["item_name"], "total_fen": bill["total_fen"], "amount_fen": payment["amount_fen"],
        "lines": [line_view(line) for line in bill["lines"]], "method": payment["method"],
        "payment_ref": payment["payment_ref"], "paid_at": payment["paid_at"], "status": bill["status"],
    }


def refund_view(bill):
    refund = bill["refund"]
    return {
        "refund_no": refund["refund_no"], "bill_no": bill["bill_no"], "application_no": bill["application_no"],
        "total_fen": bill["total_fen"], "amount_fen": refund["amount_fen"], "reason": refund["reason"],
        "refund_ref": refund["refund_ref"], "refunded_at": refund["refunded_at"],
        "lines": [line_view(line) for line in bill["lines"]], "status": bill["status"],
    }


def waiver_view(bill):
    waiver = bill["waiver"]
    return {
        "bill_no": bill["bill_no"], "application_no": bill["application_no"], "total_fen": bill["total_fen"],
        "department": waiver["department"], "reason": waiver["reason"], "waiver_ref": waiver["waiver_ref"],
        "waived_at": waiver["waived_at"], "status": bill["status"],
    }


def for_event(bill):
    """What every fees event says about the bill and whom to tell."""
    return {
        "application_no": bill["application_no"], "bill_no": bill["bill_no"], "total_fen": bill["total_fen"],
        "item_code": bill["item_code"], "item_name": bill["item_name"],
        "lines": [line_view(line) for line in bill["lines"]],
        "applicant": {k: (bill.get("applicant") or {}).get(k, "") for k in ("name", "name_masked", "phone")},
        "status": bill["status"],
    }


def problems_of(schema, data):
    try:
        load(schema, data)
    except ValidationFailed as exc:
        return exc.problems
    return {}


# ------------------------------------------------------------ events in

def case_accepted(db, event):
    case = load(schemas.ApplicationAcceptedSchema, event)
    db.record_case(case)
    if domain.issue_at_acceptance(case["kind"], case["fees"], case["free_registration"]):
        issue_bill(db, case["application_no"])


def review_completed(db, event):
    result = load(schemas.ReviewCompletedSchema, event)
    if result["outcome"] != "approved":
        return
    if db.case_for_update(result["application_no"]) is None:
        raise CaseNotYetKnown(f"no fee lines yet for {result['application_no']}")
    issue_bill(db, result["application_no"])


def issue_bill(db, application_no):
    case = db.case_for_update(application_no)
    bill = db.issue_bill(case)
    if bill is not None:
        db.emit("bill_issued", for_event(bill))
        metrics.BILLS_ISSUED.inc()
    return bill


# ------------------------------------------------------------ bills

def pay(db, bill_no, amount_fen, method, payment_ref):
    """One payment of the whole bill for every department. Idempotent on
    payment_ref: the bill row is locked, so two identical calls at once
    book once and both get the first receipt."""
    problems = problems_of(schemas.PaySchema, {"bill_no": bill_no, "amount_fen": amount_fen,
                                                  "method": method, "payment_ref": payment_ref})
    bill = db.bill(bill_no, lock=True) if "bill_no" not in problems else None
    if bill is None:
        metrics.PAYMENT_FAILURES.labels("invalid" if problems else "unknown_bill").inc()
        if problems:
            raise ValidationFailed(problems)
        raise NotFound(f"no bill {bill_no}")
    if "payment_ref" not in problems:
        earlier = db.payment(payment_ref)
        if earlier is not None:
            if (earlier["bill_no"], earlier["amount_fen"], earlier["method"]) != (bill_no, amount_fen, method):
                metrics.PAYMENT_FAILURES.labels("payment_ref_reused").inc()
                raise Conflict(f"payment_ref {payment_ref} was already used for another payment")
            return receipt_view(bill)
    if "amount_fen" not in problems:
        reason = domain.payment_failure_reason(bill, amount_fen)
    else:
        reason = domain.payment_failure_reason(bill, bill["total_fen"]) or "invalid"
    if reason:
        metrics.PAYMENT_FAILURES.labels(reason).inc()
    if bill["status"] != "unpaid":
        domain.check_payment(bill, amount_fen)  # raises Conflict
    if "amount_fen" not in problems:
        problems.update(domain.amount_problems(bill, amount_fen))
    if problems:
        raise ValidationFailed(problems)
    try:
        with db.unit.savepoint():
            paid = db.record_payment(bill, amount_fen, method, payment_ref)
    except psycopg.errors.UniqueViolation:
        # the same payment_ref being booked at this instant for another bill
        metrics.PAYMENT_FAILURES.labels("payment_ref_reused").inc()
        raise Conflict(f"payment_ref {payment_ref} was already used for another payment") from None
    receipt = receipt_view(paid)
    db.emit("bill_paid", dict(for_event(paid), method=method, payment_ref=payment_ref,
                              receipt_no=receipt["receipt_no"], paid_at=receipt["paid_at"],
                              amount_fen=amount_fen))
    metrics.BILLS_PAID.inc()
    metrics.received(paid["lines"])
    metrics.BILL_TO_PAYMENT_SECONDS.observe(max(0.0, (paid["paid_at"] - paid["issued_at"]).total_seconds()))
    return receipt


def refund(db, bill_no, reason, refund_ref):
    """The whole bill back, line by line from each treasury account;
    idempotent on refund_ref."""
    args = load(schemas.RefundSchema, {"bill_no": bill_no, "reason": reason, "refund_ref": refund_ref})
    bill = db.bill(args["bill_no"], lock=True)
    if bill is None:
        raise NotFound(f"no bill {bill_no}")
    earlier = db.refund_by_ref(args["refund_ref"])
    if earlier is not None:
        if earlier["bill_no"] != bill["bill_no"]:
            raise Conflict(f"refund_ref {refund_ref} was already used for bill {earlier['bill_no']}")
        return refund_view(bill)
    domain.check_refund(bill)
    try:
        with db.unit.savepoint():
            refunded = db.record_refund(bill, args["reason"], args["refund_ref"])
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"refund_ref {refund_ref} was already used for another bill") from None
    view = refund_view(refunded)
    db.emit("bill_refunded", dict(for_event(refunded), reason=view["reason"], refund_ref=view["refund_ref"],
                                  refund_no=view["refund_no"], refunded_at=view["refunded_at"]))
    metrics.refunded(refunded["lines"])
    return view


def waive(db, bill_no, department, reason, waiver_ref):
    """Waive (减免) an unpaid bill: by the case's lead department or the
    department that owns every line; audited; books no cash."""
    args = load(schemas.WaiveSchema, {"bill_no": bill_no, "department": department, "reason": reason,
                                        "waiver_ref": waiver_ref})
    bill = db.bill(args["bill_no"], lock=True)
    if bill is None:
        raise NotFound(f"no bill {bill_no}")
    earlier = db.waiver(args["waiver_ref"])
    if earlier is not None:
        if earlier["bill_no"] != bill["bill_no"]:
            raise Conflict(f"waiver_ref {waiver_ref} was already used for bill {earlier['bill_no']}")
        return waiver_view(bill)
    domain.check_waiver(bill, args["department"], bill["lead_department"])
    try:
        with db.unit.savepoint():
            waived = db.record_waiver(bill, args["department"], args["reason"], args["waiver_ref"])
    except psycopg.errors.UniqueViolation:
        raise Conflict(f"waiver_ref {waiver_ref} was already used for another bill") from None
    view = waiver_view(waived)
    db.emit("bill_waived", dict(for_event(waived), department=view["department"], reason=view["reason"],
                                waiver_ref=view["waiver_ref"], waived_at=view["waived_at"]))
    metrics.waived(waived["lines"])
    return view


# ------------------------------------------------------------ reports

def check_ledger(db):
    started = datetime.datetime.now(datetime.timezone.utc)
    problems = db.ledger_problems()
    figures = db.ledger_figures()
    problems += domain.figure_problems(figures)
    metrics.LEDGER_BALANCED.set(0 if problems else 1)
    return dict(figures, balanced=not problems, problems=problems, checked_at=local_now(),
                seconds=round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 3))
