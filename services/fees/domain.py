"""fees domain: the one combined bill and its double-entry ledger.

Pure rules, no nameko and no SQL. Money is integer fen.

The centre never keeps the money (收支两条线): a payment is one journal entry
that debits the window's clearing account with the whole amount and credits
each department's treasury account with its own fee line; a refund is the
mirror entry. A waiver of the whole bill moves no cash and books nothing. A
reduction (减免) of single lines moves no cash either, but is booked: it
debits the reductions account (what departments forgo) and credits what
applicants owe, line by line, and the lines are paid and refunded net of it.
"""
import dataclasses
import datetime

from onewindow.errors import Conflict, Forbidden, ValidationFailed

# The window's clearing account (窗口收费过渡户): every fen passes through it
# on its way to a department's treasury account and must leave it again.
CLEARING_ACCOUNT = "window-clearing"
# Memo accounts of reductions: no cash passes through them.
REDUCTIONS_ACCOUNT = "fee-reductions"
APPLICANTS_DUE_ACCOUNT = "applicants-due"

PAYMENT_METHODS = ("cash", "pos", "unionpay", "online")
GROUPINGS = ("department", "fee_code", "treasury_account", "day", "month")
STATUSES = ("unpaid", "paid", "waived", "refunded", "cancelled")

PAYMENT = "payment"
REFUND = "refund"
REDUCTION = "reduction"


# ---------------------------------------------------------------- bills

def bill_lines(fees):
    """The bill's lines from a case's fee lines, numbered from 1. A zero fee
    is no fee: it gets no line (a line books money to a treasury account)."""
    lines = []
    for fee in fees:
        if int(fee["amount_fen"]) <= 0:
            continue
        lines.append({
            "line_no": len(lines) + 1,
            "fee_code": fee["fee_code"],
            "name": fee.get("name") or fee["fee_code"],
            "department": fee["department"],
            "amount_fen": int(fee["amount_fen"]),
            "treasury_account": fee["treasury_account"],
            "legal_basis": fee.get("legal_basis") or "",
        })
    return lines


def net_lines(lines, reduced):
    """The lines as they are due: each line's amount less what was reduced
    (`reduced`: {line_no: fen}), with `original_fen` and `reduced_fen`."""
    return [dict(line, original_fen=line["amount_fen"], reduced_fen=reduced.get(line["line_no"], 0),
                 amount_fen=line["amount_fen"] - reduced.get(line["line_no"], 0)) for line in lines]


def bill_total(lines):
    return sum(line["amount_fen"] for line in lines)


def needs_bill(fees, free_registration=False):
    """Free registration or no fee at all: no bill, the case goes straight on."""
    return not free_registration and bill_total(bill_lines(fees)) > 0


def issue_at_acceptance(kind, fees, free_registration=False):
    """An instant item (即办件) with a fee is billed on the spot; everything
    else waits for review's approval."""
    return kind == "instant" and needs_bill(fees, free_registration)


def document_number(prefix, year, sequence):
    """B2026000123: prefix, year, six-digit sequence of that year."""
    return f"{prefix}{year:04d}{sequence:06d}"


# ----------------------------------------------------------- transitions

def check_payment(bill, amount_fen):
    """A bill may be paid once, in full, while unpaid.
    Raises Conflict for a bill that is settled, ValidationFailed for an amount
    that is not the total."""
    status = bill["status"]
    if status == "paid":
        raise Conflict(f"bill {bill['bill_no']} is already paid")
    if status == "waived":
        raise Conflict(f"bill {bill['bill_no']} was waived; nothing is due")
    if status == "refunded":
        raise Conflict(f"bill {bill['bill_no']} was paid and refunded; it cannot be paid again")
    if status == "cancelled":
        raise Conflict(f"bill {bill['bill_no']} was cancelled: the application was withdrawn")
    problems = amount_problems(bill, amount_fen)
    if problems:
        raise ValidationFailed(problems)


def amount_problems(bill, amount_fen):
    if amount_fen != bill["total_fen"]:
        return {"amount_fen": [f"must equal the bill total of {bill['total_fen']} fen "
                               f"(expected {bill['total_fen']}, got {amount_fen})"]}
    return {}


def payment_failure_reason(bill, amount_fen):
    """The metrics label of a refused payment, or None when it may go ahead."""
    if bill is None:
        return "unknown_bill"
    if bill["status"] == "paid":
        return "already_paid"
    if bill["status"] in ("waived", "refunded", "cancelled"):
        return bill["status"]
    if amount_fen != bill["total_fen"]:
        return "amount_mismatch"
    return None


def check_refund(bill):
    """Only a paid bill is refunded, and only as a whole."""
    if bill["status"] == "unpaid":
        raise Conflict(f"bill {bill['bill_no']} is not paid; there is nothing to refund")
    if bill["status"] == "waived":
        raise Conflict(f"bill {bill['bill_no']} was waived; there is nothing to refund")
    if bill["status"] == "refunded":
        raise Conflict(f"bill {bill['bill_no']} is already refunded")
    if bill["status"] == "cancelled":
        raise Conflict(f"bill {bill['bill_no']} was cancelled unpaid; there is nothing to refund")


def check_waiver(bill, department, lead_department=None):
    """A waiver (减免) is granted for a bill that is still unpaid, by a
    department that answers for the whole bill: the case's lead department
    (牵头部门), or the department every line of the bill belongs to.
    A department with only some of the lines may not waive the others' fees."""
    if bill["status"] != "unpaid":
        raise Conflict(f"bill {bill['bill_no']} is {bill['status']}; only an unpaid bill can be waived")
    if not may_waive(bill["lines"], department, lead_department):
        raise Forbidden(f"department {department} may not waive bill {bill['bill_no']}: "
                        "only the lead department or the department owning every line may")


def check_reduction(bill, department, requested):
    """减免 of single lines of an unpaid bill, by the department owning each.
    `requested`: [{fee_code, amount_fen, legal_basis}]. Returns the reduction
    per line: [{line_no, fee_code, department, amount_fen, legal_basis}].
    Conflict for a settled bill, Forbidden for another department's line,
    ValidationFailed listing every other problem."""
    if bill["status"] != "unpaid":
        raise Conflict(f"bill {bill['bill_no']} is {bill['status']}; only an unpaid bill can be reduced")
    by_code = {line["fee_code"]: line for line in bill["lines"]}
    foreign = [r["fee_code"] for r in requested
               if r["fee_code"] in by_code and by_code[r["fee_code"]]["department"] != department]
    if foreign:
        raise Forbidden(f"department {department} may not reduce {', '.join(foreign)}: "
                        "only the department owning a line may")
    problems, reduced, seen = {}, [], set()
    for i, r in enumerate(requested):
        line = by_code.get(r["fee_code"])
        if line is None:
            problems[f"lines.{i}.fee_code"] = [f"bill {bill['bill_no']} has no line {r['fee_code']}"]
            continue
        if r["fee_code"] in seen:
            problems[f"lines.{i}.fee_code"] = ["name each line once"]
            continue
        seen.add(r["fee_code"])
        if r["amount_fen"] > line["amount_fen"]:
            problems[f"lines.{i}.amount_fen"] = [f"at most the {line['amount_fen']} fen still due on this line"]
            continue
        reduced.append({"line_no": line["line_no"], "fee_code": line["fee_code"], "department": line["department"],
                        "amount_fen": r["amount_fen"], "legal_basis": r["legal_basis"]})
    if not problems and sum(r["amount_fen"] for r in reduced) >= bill_total(bill["lines"]):
        problems["lines"] = ["this would reduce the whole bill: that is a waiver (waive)"]
    if problems:
        raise ValidationFailed(problems)
    return reduced


def may_waive(lines, department, lead_department=None):
    if lead_department and department == lead_department:
        return True
    owners = {line["department"] for line in lines}
    return owners == {department}


# ---------------------------------------------------------------- ledger

@dataclasses.dataclass(frozen=True)
class Posting:
    account: str
    debit_fen: int = 0
    credit_fen: int = 0
    line_no: int = None
    fee_code: str = None
    department: str = None


def payment_postings(lines, clearing=CLEARING_ACCOUNT):
    """Debit the clearing account with the total, credit each line's
    department treasury account with its amount (a line reduced to nothing
    books nothing)."""
    return _clearing_against_treasuries(lines, clearing, "debit_fen", "credit_fen")


def refund_postings(lines, clearing=CLEARING_ACCOUNT):
    """The mirror of the payment: each treasury account gives its line back."""
    return _clearing_against_treasuries(lines, clearing, "credit_fen", "debit_fen")


def _clearing_against_treasuries(lines, clearing, clearing_side, treasury_side):
    postings = [Posting(clearing, **{clearing_side: bill_total(lines)})]
    for line in lines:
        if line["amount_fen"] <= 0:
            continue
        postings.append(Posting(line["treasury_account"], **{treasury_side: line["amount_fen"]},
                                line_no=line["line_no"], fee_code=line["fee_code"],
                                department=line["department"]))
    return postings


def reduction_postings(reduced):
    """Debit the reductions account line by line, credit what applicants owe
    with the whole reduction: no cash moves."""
    postings = [Posting(APPLICANTS_DUE_ACCOUNT, credit_fen=sum(r["amount_fen"] for r in reduced))]
    for r in reduced:
        postings.append(Posting(REDUCTIONS_ACCOUNT, debit_fen=r["amount_fen"], line_no=r["line_no"],
                                fee_code=r["fee_code"], department=r["department"]))
    return postings


def entry_problems(postings):
    """Why these postings are not one balanced journal entry (empty if they are)."""
    problems = []
    if len(postings) < 2:
        problems.append("an entry needs at least two postings")
    for p in postings:
        if p.debit_fen < 0 or p.credit_fen < 0 or (p.debit_fen > 0) == (p.credit_fen > 0):
            problems.append(f"posting to {p.account} must be a positive debit or a positive credit")
    debits = sum(p.debit_fen for p in postings)
    credits = sum(p.credit_fen for p in postings)
    if debits != credits:
        problems.append(f"debits {debits} fen != credits {credits} fen")
    return problems


@dataclasses.dataclass
class Entry:
    kind: str
    bill_no: str
    reference: str
    postings: list
    booked_on: datetime.date = None


class Books:
    """An in-memory ledger with the same rules as the service: what the
    property tests drive with any sequence of bills, payments, refunds and
    waivers, and the model `check_ledger` implements in SQL."""

    def __init__(self, clearing=CLEARING_ACCOUNT):
        self.clearing = clearing
        self.bills = {}
        self.entries = []
        self.payments = {}   # payment_ref -> (bill_no, amount)
        self.refunds = {}    # refund_ref -> bill_no

    def issue(self, bill_no, fees):
        lines = bill_lines(fees)
        if not lines:
            return None
        bill = {"bill_no": bill_no, "lines": lines, "total_fen": bill_total(lines), "status": "unpaid"}
        self.bills[bill_no] = bill
        return bill

    def pay(self, bill_no, amount_fen, payment_ref, booked_on=None):
        if payment_ref in self.payments:
            if self.payments[payment_ref] != (bill_no, amount_fen):
                raise Conflict(f"payment_ref {payment_ref} was used for another payment")
            return self.bills[bill_no]
        bill = self.bills[bill_no]
        check_payment(bill, amount_fen)
        self.entries.append(Entry(PAYMENT, bill_no, payment_ref,
                                  payment_postings(bill["lines"], self.clearing), booked_on))
        self.payments[payment_ref] = (bill_no, amount_fen)
        bill["status"] = "paid"
        return bill

    def refund(self, bill_no, refund_ref, booked_on=None):
        if refund_ref in self.refunds:
            if self.refunds[refund_ref] != bill_no:
                raise Conflict(f"refund_ref {refund_ref} was used for another bill")
            return self.bills[bill_no]
        bill = self.bills[bill_no]
        check_refund(bill)
        self.entries.append(Entry(REFUND, bill_no, refund_ref,
                                  refund_postings(bill["lines"], self.clearing), booked_on))
        self.refunds[refund_ref] = bill_no
        bill["status"] = "refunded"
        return bill

    def reduce(self, bill_no, department, requested, booked_on=None):
        bill = self.bills[bill_no]
        reduced = check_reduction(bill, department, requested)
        amounts = {r["line_no"]: r["amount_fen"] for r in reduced}
        bill["lines"] = [dict(line, amount_fen=line["amount_fen"] - amounts.get(line["line_no"], 0))
                         for line in bill["lines"]]
        bill["total_fen"] = bill_total(bill["lines"])
        self.entries.append(Entry(REDUCTION, bill_no, f"reduction-{len(self.entries)}",
                                  reduction_postings(reduced), booked_on))
        return bill

    def waive(self, bill_no, department, lead_department=None):
        bill = self.bills[bill_no]
        check_waiver(bill, department, lead_department)
        bill["status"] = "waived"
        return bill

    # what check_ledger proves, on plain values
    def audit(self):
        return audit(self.bills, self.entries, self.clearing)

    def balances(self):
        result = {}
        for entry in self.entries:
            for p in entry.postings:
                result[p.account] = result.get(p.account, 0) + p.credit_fen - p.debit_fen
        return result

    def totals(self, group_by="department"):
        return totals(self.entries, group_by)


def audit(bills, entries, clearing=CLEARING_ACCOUNT):
    """Problems with the books: every entry balanced, every paid bill's lines
    booked exactly once, every refunded bill reversed exactly once, nothing
    booked for an unpaid or waived bill, and the cash in the clearing account
    equal to what the bills say was received less refunded."""
    problems = []
    by_bill = {}
    for entry in entries:
        for problem in entry_problems(entry.postings):
            problems.append(f"{entry.kind} entry of {entry.bill_no}: {problem}")
        by_bill.setdefault(entry.bill_no, []).append(entry)
    for bill_no in by_bill.keys() - bills.keys():
        problems.append(f"entries booked for unknown bill {bill_no}")
    cash_expected = 0
    for bill_no, bill in bills.items():
        settlements = [e for e in by_bill.get(bill_no, []) if e.kind != REDUCTION]
        kinds = [e.kind for e in settlements]
        want = {"unpaid": [], "waived": [], "cancelled": [], "paid": [PAYMENT],
                "refunded": [PAYMENT, REFUND]}[bill["status"]]
        if sorted(kinds) != sorted(want):
            problems.append(f"bill {bill_no} is {bill['status']} but has entries {sorted(kinds)}")
        if bill["status"] == "paid":
            cash_expected += bill["total_fen"]
        for entry in settlements:
            want_postings = (payment_postings if entry.kind == PAYMENT else refund_postings)(bill["lines"], clearing)
            if sorted(entry.postings, key=repr) != sorted(want_postings, key=repr):
                problems.append(f"{entry.kind} entry of {bill_no} does not book each line exactly once")
    cash = 0
    for entry in entries:
        for p in entry.postings:
            if p.account == clearing:
                cash += p.debit_fen - p.credit_fen
    if cash != cash_expected:
        problems.append(f"clearing account holds {cash} fen, bills say {cash_expected} fen")
    return problems


def figure_problems(figures):
    """What the ledger's totals say is wrong: debits against credits, the
    cash through the clearing account against payments, refunds and the bills
    still paid, and the treasury accounts against the clearing account."""
    problems = []
    if figures["debits_fen"] != figures["credits_fen"]:
        problems.append(f"debits {figures['debits_fen']} fen != credits {figures['credits_fen']} fen")
    cash = figures["received_fen"] - figures["refunded_fen"]
    if figures["clearing_fen"] != cash:
        problems.append(f"clearing account holds {figures['clearing_fen']} fen, payments less refunds "
                        f"are {cash} fen")
    if figures["held_for_paid_bills_fen"] != cash:
        problems.append(f"paid bills total {figures['held_for_paid_bills_fen']} fen, payments less refunds "
                        f"are {cash} fen")
    if figures.get("reductions_fen", 0) != figures.get("reduced_fen", 0):
        problems.append(f"the reductions account holds {figures['reductions_fen']} fen, reductions granted "
                        f"are {figures['reduced_fen']} fen")
    if figures["treasury_fen"] != figures["clearing_fen"]:
        problems.append(f"treasury accounts hold {figures['treasury_fen']} fen, clearing account "
                        f"{figures['clearing_fen']} fen")
    return problems


def group_key(group_by, posting, booked_on):
    if group_by == "department":
        return posting.department
    if group_by == "fee_code":
        return posting.fee_code
    if group_by == "treasury_account":
        return posting.account
    if group_by == "day":
        return booked_on.isoformat()
    if group_by == "month":
        return booked_on.strftime("%Y-%m")
    raise ValueError(group_by)


def totals(entries, group_by):
    """{key: {received_fen, refunded_fen, net_fen}} from the treasury side of
    the entries (the line postings)."""
    rows = {}
    for entry in entries:
        if entry.kind == REDUCTION:
            continue  # no cash
        for p in entry.postings:
            if p.line_no is None:
                continue
            row = rows.setdefault(group_key(group_by, p, entry.booked_on),
                                  {"received_fen": 0, "refunded_fen": 0, "net_fen": 0})
            if entry.kind == PAYMENT:
                row["received_fen"] += p.credit_fen
            else:
                row["refunded_fen"] += p.debit_fen
            row["net_fen"] = row["received_fen"] - row["refunded_fen"]
    return rows


# ---------------------------------------------------------------- reports

def growth(current, base):
    """Year-on-year growth as a ratio (1.62 = up 162%); None without a base."""
    if base is None or base <= 0:
        return None
    return round((current - base) / base, 4)


def a_year_earlier(day):
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def previous_year_month(month_key):
    year, month = month_key.split("-")
    return f"{int(year) - 1:04d}-{month}"


def with_year_on_year(rows, base_rows):
    """Month rows with last year's net for the same month and the growth."""
    base = {row["key"]: row for row in base_rows}
    result = []
    for row in rows:
        last = base.get(previous_year_month(row["key"]))
        last_net = last["net_fen"] if last else None
        result.append(dict(row, last_year_net_fen=last_net, yoy_growth=growth(row["net_fen"], last_net)))
    return result


def reminder_due(issued_on, today, working_days, calendar):
    """An unpaid bill is reminded once `working_days` working days have
    passed since the day it was issued."""
    return today >= calendar.add_workdays(issued_on, working_days).due_date


def check_period(start, end, group_by):
    """ValidationFailed listing every problem of a totals() request."""
    problems = {}
    days = {}
    for name, value in (("start", start), ("end", end)):
        try:
            days[name] = value if isinstance(value, datetime.date) else datetime.date.fromisoformat(str(value))
        except (TypeError, ValueError):
            problems[name] = ["must be a date YYYY-MM-DD"]
            continue
        if not 2000 <= days[name].year <= 2100:
            # the year-on-year view looks a year back; no books exist outside this
            problems[name] = ["must be a date from 2000-01-01 to 2100-12-31"]
            del days[name]
    if group_by not in GROUPINGS:
        problems["group_by"] = [f"must be one of {', '.join(GROUPINGS)}"]
    if len(days) == 2 and days["start"] > days["end"]:
        problems["end"] = ["must not be before start"]
    if problems:
        raise ValidationFailed(problems)
    return days["start"], days["end"]
