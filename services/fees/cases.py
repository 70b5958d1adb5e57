"""What fees does with a case's bill: the use cases behind the entrypoints.

One combined bill per case (一个窗口收费), one payment for every department,
each fen booked to its department's treasury account (收支两条线). Each
function works on one FeesStore (one transaction); no nameko here.
"""
import datetime


from onewindow.errors import Conflict, NotFound, PrerequisiteMissing, ValidationFailed
from onewindow.validation import load

from onewindow.workdays import local_now

from . import domain, metrics, schemas


def line_view(line):
    """A bill line as it is due; `original_fen` as issued, `reduced_fen` by 减免."""
    return {k: line[k] for k in ("line_no", "fee_code", "name", "department", "amount_fen", "treasury_account",
                                 "legal_basis", "original_fen", "reduced_fen")}


def bill_view(bill):
    view = {k: bill[k] for k in ("bill_no", "application_no", "item_code", "item_name", "total_fen", "gross_fen",
                                 "status", "issued_at", "paid_at", "refunded_at", "waived_at", "cancelled_at",
                                 "reminded_at")}
    view["reductions"] = bill["reductions"]
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


def bill(store, args):
    found = store.bill_of_case(args["application_no"])
    if found is None:
        raise NotFound(f"no bill for {args['application_no']}")
    return bill_view(found)


# ------------------------------------------------------------ events in

def case_accepted(store, case):
    store.record_case(case)
    if domain.issue_at_acceptance(case["kind"], case["fees"], case["free_registration"]):
        issue_bill(store, case["application_no"])


def case_withdrawn(store, data):
    """撤回: no bill is issued any more; an unpaid bill is cancelled, a paid
    one refunded as a whole by the rules of `refund`."""
    case = store.mark_withdrawn(data["application_no"], data["withdrawn_on"])
    if case is None:
        if data["accepted"]:
            raise PrerequisiteMissing(f"application_accepted of {data['application_no']} not heard yet")
        return None  # never accepted: never billed
    bill = store.bill_of_case(data["application_no"])
    if bill is None:
        return None
    bill = store.bill(bill["bill_no"], lock=True)
    reason = f"申请人撤回：{data['reason']}" if data["reason"] else "申请人撤回"
    if bill["status"] == "unpaid":
        cancelled = store.record_cancellation(bill, reason)
        store.emit("bill_cancelled", dict(for_event(cancelled), reason=reason, cancelled_at=cancelled["cancelled_at"]))
        metrics.BILLS_CANCELLED.inc()
        return cancelled
    if bill["status"] == "paid":
        refunded = store.record_refund(bill, reason, f"withdrawal-{data['application_no']}")
        view = refund_view(refunded)
        store.emit("bill_refunded", dict(for_event(refunded), reason=reason, refund_ref=view["refund_ref"],
                                      refund_no=view["refund_no"], refunded_at=view["refunded_at"]))
        metrics.refunded(refunded["lines"])
        return refunded
    return bill  # waived or refunded already: nothing is due either way


def review_completed(store, result):
    if result["outcome"] != "approved":
        return
    if store.case_for_update(result["application_no"]) is None:
        raise PrerequisiteMissing(f"no fee lines yet for {result['application_no']}")
    issue_bill(store, result["application_no"])


def issue_bill(store, application_no):
    case = store.case_for_update(application_no)
    bill = store.issue_bill(case)
    if bill is not None:
        store.emit("bill_issued", for_event(bill))
        metrics.BILLS_ISSUED.inc()
    return bill


# ------------------------------------------------------------ bills

def pay(store, bill_no, amount_fen, method, payment_ref):
    """One payment of the whole bill for every department. Idempotent on
    payment_ref: the bill row is locked, so two identical calls at once
    book once and both get the first receipt."""
    problems = problems_of(schemas.PaySchema, {"bill_no": bill_no, "amount_fen": amount_fen,
                                                  "method": method, "payment_ref": payment_ref})
    bill = store.bill(bill_no, lock=True) if "bill_no" not in problems else None
    if bill is None:
        metrics.PAYMENT_FAILURES.labels("invalid" if problems else "unknown_bill").inc()
        if problems:
            raise ValidationFailed(problems)
        raise NotFound(f"no bill {bill_no}")
    if "payment_ref" not in problems:
        earlier = store.payment(payment_ref)
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
        with store.unique(f"payment_ref {payment_ref} was already used for another payment"):
            paid = store.record_payment(bill, amount_fen, method, payment_ref)
    except Conflict:
        # the same payment_ref being booked at this instant for another bill
        metrics.PAYMENT_FAILURES.labels("payment_ref_reused").inc()
        raise
    receipt = receipt_view(paid)
    store.emit("bill_paid", dict(for_event(paid), method=method, payment_ref=payment_ref,
                              receipt_no=receipt["receipt_no"], paid_at=receipt["paid_at"],
                              amount_fen=amount_fen))
    metrics.BILLS_PAID.inc()
    metrics.received(paid["lines"])
    metrics.BILL_TO_PAYMENT_SECONDS.observe(max(0.0, (paid["paid_at"] - paid["issued_at"]).total_seconds()))
    return receipt


def _bill_or_first_answer(store, bill_no, ref_name, ref, earlier_of, answer):
    """The bill, locked; or, when `ref` was used before, the first call's
    answer again (a Conflict when it was used for another bill). Returns
    (bill, answer or None)."""
    bill = store.bill(bill_no, lock=True)
    if bill is None:
        raise NotFound(f"no bill {bill_no}")
    earlier = earlier_of(ref)
    if earlier is None:
        return bill, None
    if earlier["bill_no"] != bill["bill_no"]:
        raise Conflict(f"{ref_name} {ref} was already used for bill {earlier['bill_no']}")
    return bill, answer(bill)


def refund(store, args):
    """The whole bill back, line by line from each treasury account;
    idempotent on refund_ref."""
    bill, first = _bill_or_first_answer(store, args["bill_no"], "refund_ref", args["refund_ref"],
                                        store.refund_by_ref, refund_view)
    if first:
        return first
    domain.check_refund(bill)
    with store.unique(f"refund_ref {args['refund_ref']} was already used for another bill"):
        refunded = store.record_refund(bill, args["reason"], args["refund_ref"])
    view = refund_view(refunded)
    store.emit("bill_refunded", dict(for_event(refunded), reason=view["reason"], refund_ref=view["refund_ref"],
                                  refund_no=view["refund_no"], refunded_at=view["refunded_at"]))
    metrics.refunded(refunded["lines"])
    return view


def waive(store, args):
    """Waive (减免) an unpaid bill: by the case's lead department or the
    department that owns every line; audited; books no cash."""
    bill, first = _bill_or_first_answer(store, args["bill_no"], "waiver_ref", args["waiver_ref"],
                                        store.waiver, waiver_view)
    if first:
        return first
    domain.check_waiver(bill, args["department"], bill["lead_department"])
    with store.unique(f"waiver_ref {args['waiver_ref']} was already used for another bill"):
        waived = store.record_waiver(bill, args["department"], args["reason"], args["waiver_ref"])
    view = waiver_view(waived)
    store.emit("bill_waived", dict(for_event(waived), department=view["department"], reason=view["reason"],
                                waiver_ref=view["waiver_ref"], waived_at=view["waived_at"]))
    metrics.waived(waived["lines"])
    return view


def reduce(store, args):
    """减免 of single lines by the department owning them, each with its legal
    basis; booked in the journal; what is due drops. Idempotent on
    reduction_ref."""
    bill, first = _bill_or_first_answer(store, args["bill_no"], "reduction_ref", args["reduction_ref"],
                                        store.reduction, lambda b: reduction_view(b, args["reduction_ref"]))
    if first:
        return first
    reduced = domain.check_reduction(bill, args["department"], args["lines"])
    with store.unique(f"reduction_ref {args['reduction_ref']} was already used for another bill"):
        after = store.record_reduction(bill, args["department"], reduced, args["reduction_ref"])
    view = reduction_view(after, args["reduction_ref"])
    store.emit("bill_reduced", dict(for_event(after), department=args["department"],
                                 reduction_ref=args["reduction_ref"], reduced_fen=view["reduction"]["amount_fen"],
                                 reduced_lines=view["reduction"]["lines"], reduced_at=view["reduction"]["reduced_at"],
                                 gross_fen=after["gross_fen"]))
    metrics.reduced(reduced)
    return view


def reduction_view(bill, reduction_ref):
    """The bill after a reduction, with that reduction named."""
    view = bill_view(bill)
    view["reduction"] = next(r for r in bill["reductions"] if r["reduction_ref"] == reduction_ref)
    return view


def remind_unpaid(store, calendar, days, as_of=None):
    """An unpaid bill is reminded by SMS once, `days` working days after it
    was issued (bill_reminder)."""
    day = as_of or local_now().date()
    if day > local_now().date():
        raise ValidationFailed({"as_of": ["must not be in the future"]})
    reminded = []
    for row in store.unpaid_bills_to_remind(datetime.datetime.combine(day, datetime.time(), local_now().tzinfo)):
        bill = store.bill(row["bill_no"])
        issued_on = bill["issued_at"].astimezone(local_now().tzinfo).date()
        if not domain.reminder_due(issued_on, day, days, calendar):
            continue
        store.mark_reminded(bill["bill_no"])
        store.emit("bill_reminder", dict(for_event(bill), issued_at=bill["issued_at"], working_days=days))
        reminded.append(bill["bill_no"])
        metrics.BILLS_REMINDED.inc()
    return {"as_of": day, "reminded": reminded}


# ------------------------------------------------------------ reports

def check_ledger(store):
    started = datetime.datetime.now(datetime.timezone.utc)
    problems = store.ledger_problems()
    figures = store.ledger_figures()
    problems += domain.figure_problems(figures)
    metrics.LEDGER_BALANCED.set(0 if problems else 1)
    return dict(figures, balanced=not problems, problems=problems, checked_at=local_now(),
                seconds=round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 3))
