"""fees data access: one function per question or change."""
import zoneinfo

from psycopg.types.json import Jsonb

from onewindow import config, personal
from onewindow.db import Store
from onewindow.workdays import local_now

from . import domain

PROBLEM_LIMIT = 50  # per kind of problem; enough to act on, small enough to read


def local(at):
    return at.astimezone(zoneinfo.ZoneInfo(config.time_zone()))


class FeesStore(Store):
    def purge(self, older_than):
        """Retention (onewindow.retention): a case whose bill was settled
        (paid, waived, refunded, cancelled), or that was withdrawn, before
        the cut-off keeps its applicant's masked name and phone only; the
        bills and the journal stay whole."""
        return {"applicants_masked": self.execute(
            f"UPDATE fee_cases c SET applicant = {personal.mask_applicant_sql('c.applicant')} "
            "WHERE (c.withdrawn_on < %s::date OR EXISTS (SELECT 1 FROM bills b WHERE b.application_no = "
            "c.application_no AND b.status <> 'unpaid' AND GREATEST(b.paid_at, b.waived_at, b.refunded_at, "
            "b.cancelled_at) < %s)) "
            f"AND {personal.applicant_unmasked_sql('c.applicant')}", (older_than, older_than)).rowcount}

    # ------------------------------------------------------------ cases

    def record_case(self, case):
        """Keep the first word on a case: the fee lines of the catalog version
        it was accepted under. Returns True when it is new."""
        lead = next((d["code"] for d in case["departments"] if d.get("lead")), None)
        row = self.one(
            "INSERT INTO fee_cases (application_no, item_code, item_name, catalog_version, kind, "
            "free_registration, fees, lead_department, applicant, accepted_on) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (application_no) DO NOTHING RETURNING application_no",
            (case["application_no"], case["item_code"], case["item_name"], str(case["catalog_version"] or ""),
             case["kind"], case["free_registration"], Jsonb(case["fees"]), lead,
             Jsonb(case["applicant"]), case["accepted_on"]),
        )
        return row is not None

    def case_for_update(self, application_no):
        return self.locked("SELECT * FROM fee_cases WHERE application_no = %s FOR UPDATE", (application_no,))

    # ------------------------------------------------------------ numbers

    def next_number(self, kind, prefix, year):
        """The next number of this kind and year; the counter row stays locked
        until commit, so a rolled-back call leaves no gap."""
        row = self.one(
            "INSERT INTO document_counters (kind, year, last_value) VALUES (%s, %s, 1) "
            "ON CONFLICT (kind, year) DO UPDATE SET last_value = document_counters.last_value + 1 "
            "RETURNING last_value",
            (kind, year),
        )
        return domain.document_number(prefix, year, row["last_value"])

    # ------------------------------------------------------------ bills

    def issue_bill(self, case, at=None):
        """The case's one bill, if it needs one and has none yet. Returns the
        new bill, or None. Call with the case row locked (case_for_update)."""
        lines = domain.bill_lines(case["fees"])
        if case["free_registration"] or not lines or case.get("withdrawn_on"):
            return None
        if self.one("SELECT 1 FROM bills WHERE application_no = %s", (case["application_no"],)):
            return None
        at = at or local_now()
        bill_no = self.next_number("bill", "B", local(at).year)
        total = domain.bill_total(lines)
        self.execute(
            "INSERT INTO bills (bill_no, application_no, item_code, item_name, total_fen, gross_fen, status, "
            "issued_at) VALUES (%s, %s, %s, %s, %s, %s, 'unpaid', %s)",
            (bill_no, case["application_no"], case["item_code"], case["item_name"], total, total, at),
        )
        self.execute_many(
            "INSERT INTO bill_lines (bill_no, line_no, fee_code, name, department, amount_fen, treasury_account, "
            "legal_basis) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(bill_no, l["line_no"], l["fee_code"], l["name"], l["department"], l["amount_fen"],
              l["treasury_account"], l["legal_basis"]) for l in lines],
        )
        self.audit(bill_no, "issued", "", {"total_fen": total, "catalog_version": case["catalog_version"]}, at)
        return self.bill(bill_no)

    def audit(self, bill_no, action, actor="", detail=None, at=None):
        self.execute(
            "INSERT INTO bill_history (bill_no, action, actor, detail, at) VALUES (%s, %s, %s, %s, coalesce(%s, now()))",
            (bill_no, action, actor or "", Jsonb(detail or {}), at),
        )

    def bill(self, bill_no, lock=False):
        """The whole bill with its lines and what settled it, or None."""
        row = (self.locked if lock else self.one)(
            "SELECT b.*, c.lead_department, c.applicant FROM bills b JOIN fee_cases c USING (application_no) "
            "WHERE b.bill_no = %s" + (" FOR UPDATE OF b" if lock else ""),
            (bill_no,),
        )
        return self._whole(row)

    def bill_of_case(self, application_no):
        row = self.one(
            "SELECT b.*, c.lead_department, c.applicant FROM bills b JOIN fee_cases c USING (application_no) "
            "WHERE b.application_no = %s",
            (application_no,),
        )
        return self._whole(row)

    def _whole(self, row):
        if row is None:
            return None
        bill = dict(row)
        key = (bill["bill_no"],)
        # read on every payment and every event about a bill: the six reads
        # that complete it go in one round trip
        reduced, lines, reductions, payment, refund, waiver, history = self.all_at_once(
            ("SELECT line_no, sum(amount_fen) AS fen FROM line_reductions WHERE bill_no = %s GROUP BY line_no", key),
            ("SELECT line_no, fee_code, name, department, amount_fen, treasury_account, legal_basis "
             "FROM bill_lines WHERE bill_no = %s ORDER BY line_no", key),
            ("SELECT r.reduction_ref, r.department, r.amount_fen, r.reduced_at, "
             "json_agg(json_build_object('line_no', l.line_no, 'amount_fen', l.amount_fen, "
             "'legal_basis', l.legal_basis) ORDER BY l.line_no) AS lines "
             "FROM reductions r JOIN line_reductions l USING (reduction_ref) WHERE r.bill_no = %s "
             "GROUP BY r.reduction_ref ORDER BY r.reduced_at, r.reduction_ref", key),
            ("SELECT payment_ref, amount_fen, method, receipt_no, paid_at FROM payments WHERE bill_no = %s", key),
            ("SELECT refund_ref, amount_fen, reason, refund_no, refunded_at FROM refunds WHERE bill_no = %s", key),
            ("SELECT waiver_ref, department, reason, amount_fen, waived_at FROM waivers WHERE bill_no = %s", key),
            ("SELECT action, actor, detail, at FROM bill_history WHERE bill_no = %s ORDER BY id", key),
        )
        bill["lines"] = domain.net_lines(lines, {r["line_no"]: int(r["fen"]) for r in reduced})
        bill["reductions"] = reductions
        bill["payment"], bill["refund"], bill["waiver"] = (rows[0] if rows else None
                                                           for rows in (payment, refund, waiver))
        bill["history"] = history
        return bill

    # ------------------------------------------------------------ settlement

    def payment(self, payment_ref):
        return self.one("SELECT * FROM payments WHERE payment_ref = %s", (payment_ref,))

    def refund_by_ref(self, refund_ref):
        return self.one("SELECT * FROM refunds WHERE refund_ref = %s", (refund_ref,))

    def waiver(self, waiver_ref):
        return self.one("SELECT * FROM waivers WHERE waiver_ref = %s", (waiver_ref,))

    def reduction(self, reduction_ref):
        return self.one("SELECT * FROM reductions WHERE reduction_ref = %s", (reduction_ref,))

    def book(self, kind, bill, reference, postings, at):
        """One journal entry with its postings; the database checks at commit
        that it balances."""
        entry = self.one(
            "INSERT INTO journal_entries (kind, bill_no, reference, booked_at, booked_on) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING entry_id",
            (kind, bill["bill_no"], reference, at, local(at).date()),
        )
        self.execute_many(
            "INSERT INTO postings (entry_id, account, debit_fen, credit_fen, line_no, fee_code, department) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(entry["entry_id"], p.account, p.debit_fen, p.credit_fen, p.line_no, p.fee_code, p.department)
             for p in postings],
        )
        return entry["entry_id"]

    def record_payment(self, bill, amount_fen, method, payment_ref, at=None):
        """Book the payment of a locked, unpaid bill: journal entry, payment,
        receipt number, status."""
        at = at or local_now()
        receipt_no = self.next_number("receipt", "R", local(at).year)
        entry_id = self.book(domain.PAYMENT, bill, payment_ref, domain.payment_postings(bill["lines"]), at)
        self.execute(
            "INSERT INTO payments (payment_ref, bill_no, amount_fen, method, receipt_no, paid_at, entry_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (payment_ref, bill["bill_no"], amount_fen, method, receipt_no, at, entry_id),
        )
        self.execute("UPDATE bills SET status = 'paid', paid_at = %s WHERE bill_no = %s", (at, bill["bill_no"]))
        self.audit(bill["bill_no"], "paid", method,
                   {"payment_ref": payment_ref, "amount_fen": amount_fen, "receipt_no": receipt_no}, at)
        return self.bill(bill["bill_no"])

    def record_refund(self, bill, reason, refund_ref, at=None):
        at = at or local_now()
        refund_no = self.next_number("refund", "F", local(at).year)
        entry_id = self.book(domain.REFUND, bill, refund_ref, domain.refund_postings(bill["lines"]), at)
        self.execute(
            "INSERT INTO refunds (refund_ref, bill_no, amount_fen, reason, refund_no, refunded_at, entry_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (refund_ref, bill["bill_no"], bill["total_fen"], reason, refund_no, at, entry_id),
        )
        self.execute("UPDATE bills SET status = 'refunded', refunded_at = %s WHERE bill_no = %s",
                     (at, bill["bill_no"]))
        self.audit(bill["bill_no"], "refunded", "",
                   {"refund_ref": refund_ref, "reason": reason, "refund_no": refund_no}, at)
        return self.bill(bill["bill_no"])

    def record_waiver(self, bill, department, reason, waiver_ref, at=None):
        at = at or local_now()
        self.execute(
            "INSERT INTO waivers (waiver_ref, bill_no, department, reason, amount_fen, waived_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (waiver_ref, bill["bill_no"], department, reason, bill["total_fen"], at),
        )
        self.execute("UPDATE bills SET status = 'waived', waived_at = %s WHERE bill_no = %s",
                     (at, bill["bill_no"]))
        self.audit(bill["bill_no"], "waived", department, {"waiver_ref": waiver_ref, "reason": reason}, at)
        return self.bill(bill["bill_no"])

    def record_reduction(self, bill, department, reduced, reduction_ref, at=None):
        """Book the reduction (减免) of single lines of a locked, unpaid bill;
        what is due drops by it."""
        at = at or local_now()
        amount = sum(r["amount_fen"] for r in reduced)
        entry_id = self.book(domain.REDUCTION, bill, reduction_ref, domain.reduction_postings(reduced), at)
        self.execute("INSERT INTO reductions (reduction_ref, bill_no, department, amount_fen, reduced_at, entry_id) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", (reduction_ref, bill["bill_no"], department, amount, at,
                                                         entry_id))
        self.execute_many(
            "INSERT INTO line_reductions (reduction_ref, bill_no, line_no, amount_fen, legal_basis) "
            "VALUES (%s, %s, %s, %s, %s)",
            [(reduction_ref, bill["bill_no"], r["line_no"], r["amount_fen"], r["legal_basis"]) for r in reduced])
        self.execute("UPDATE bills SET total_fen = total_fen - %s WHERE bill_no = %s", (amount, bill["bill_no"]))
        self.audit(bill["bill_no"], "reduced", department,
                   {"reduction_ref": reduction_ref, "amount_fen": amount, "lines": reduced}, at)
        return self.bill(bill["bill_no"])

    def record_cancellation(self, bill, reason, at=None):
        at = at or local_now()
        self.execute("UPDATE bills SET status = 'cancelled', cancelled_at = %s WHERE bill_no = %s",
                     (at, bill["bill_no"]))
        self.audit(bill["bill_no"], "cancelled", "", {"reason": reason}, at)
        return self.bill(bill["bill_no"])

    def mark_withdrawn(self, application_no, on):
        """The case was withdrawn: no bill is issued for it any more. Returns
        the case row, locked, or None when fees never heard of the case."""
        return self.one("UPDATE fee_cases SET withdrawn_on = coalesce(withdrawn_on, %s) WHERE application_no = %s "
                        "RETURNING *", (on, application_no))

    def unpaid_bills_to_remind(self, issued_before):
        """Unpaid bills issued before that instant and not reminded yet,
        locked; replicas skip each other's rows."""
        return self.all("SELECT bill_no FROM bills WHERE status = 'unpaid' AND reminded_at IS NULL "
                        "AND issued_at < %s ORDER BY issued_at FOR UPDATE SKIP LOCKED", (issued_before,))

    def mark_reminded(self, bill_no, at=None):
        at = at or local_now()
        self.execute("UPDATE bills SET reminded_at = %s WHERE bill_no = %s", (at, bill_no))
        self.audit(bill_no, "reminded", "", {}, at)

    # ------------------------------------------------------------ reports

    GROUP_KEYS = {
        "department": "p.department",
        "fee_code": "p.fee_code",
        "treasury_account": "p.account",
        "day": "to_char(e.booked_on, 'YYYY-MM-DD')",
        "month": "to_char(e.booked_on, 'YYYY-MM')",
    }

    def totals(self, start, end, group_by):
        """Received, refunded and net fen per group, from the treasury side
        of the journal (one posting per bill line)."""
        key = self.GROUP_KEYS[group_by]  # a fixed expression, never caller text
        return self.all(
            f"SELECT {key} AS key, "
            "coalesce(sum(p.credit_fen) FILTER (WHERE e.kind = 'payment'), 0)::bigint AS received_fen, "
            "coalesce(sum(p.debit_fen) FILTER (WHERE e.kind = 'refund'), 0)::bigint AS refunded_fen "
            "FROM postings p JOIN journal_entries e USING (entry_id) "
            "WHERE p.line_no IS NOT NULL AND e.booked_on BETWEEN %s AND %s "
            "GROUP BY 1 ORDER BY 1",
            (start, end),
        )

    def period_totals(self, start, end, group_by):
        """totals() as the contract returns it: rows and a total, and for
        months last year's net and the year-on-year growth. start and end are
        checked dates (domain.check_period)."""
        def rows_of(first, last):
            return [dict(r, net_fen=r["received_fen"] - r["refunded_fen"])
                    for r in self.totals(first, last, group_by)]

        rows = rows_of(start, end)
        total = {"received_fen": sum(r["received_fen"] for r in rows),
                 "refunded_fen": sum(r["refunded_fen"] for r in rows)}
        total["net_fen"] = total["received_fen"] - total["refunded_fen"]
        if group_by == "month":
            base_rows = rows_of(domain.a_year_earlier(start), domain.a_year_earlier(end))
            rows = domain.with_year_on_year(rows, base_rows)
            last_net = sum(r["net_fen"] for r in base_rows) if base_rows else None
            total.update(last_year_net_fen=last_net, yoy_growth=domain.growth(total["net_fen"], last_net))
        return {"start": start, "end": end, "group_by": group_by, "rows": rows, "total": total}

    # ------------------------------------------------------------ the books

    def ledger_problems(self):
        """Everything check_ledger can find wrong, as readable sentences."""
        problems = []
        limit = PROBLEM_LIMIT
        for r in self.all(
            "SELECT e.entry_id, e.kind, e.bill_no, coalesce(sum(p.debit_fen), 0) AS debits, "
            "coalesce(sum(p.credit_fen), 0) AS credits, count(p.posting_id) AS n "
            "FROM journal_entries e LEFT JOIN postings p USING (entry_id) GROUP BY e.entry_id "
            "HAVING coalesce(sum(p.debit_fen), 0) <> coalesce(sum(p.credit_fen), 0) OR count(p.posting_id) < 2 "
            "ORDER BY e.entry_id LIMIT %s", (limit,)
        ):
            problems.append(f"{r['kind']} entry {r['entry_id']} of bill {r['bill_no']} is not balanced: "
                            f"debits {r['debits']} fen, credits {r['credits']} fen, {r['n']} postings")
        # each bill line booked exactly once per entry, to its treasury account, on the right side
        for r in self.all(
            "WITH net AS ("
            "  SELECT l.bill_no, l.line_no, l.treasury_account, l.amount_fen - coalesce(("
            "    SELECT sum(x.amount_fen) FROM line_reductions x WHERE x.bill_no = l.bill_no "
            "    AND x.line_no = l.line_no), 0) AS amount_fen FROM bill_lines l), "
            "expected AS ("
            "  SELECT e.entry_id, e.kind, e.bill_no, l.line_no, l.treasury_account, l.amount_fen "
            "  FROM journal_entries e JOIN net l USING (bill_no) "
            "  WHERE e.kind IN ('payment', 'refund') AND l.amount_fen > 0), "
            "actual AS ("
            "  SELECT entry_id, line_no, count(*) AS n, min(account) AS account, max(account) AS account2, "
            "         sum(debit_fen) AS debits, sum(credit_fen) AS credits "
            "  FROM postings JOIN journal_entries e USING (entry_id) "
            "  WHERE line_no IS NOT NULL AND e.kind IN ('payment', 'refund') GROUP BY entry_id, line_no) "
            "SELECT coalesce(x.entry_id, a.entry_id) AS entry_id, x.kind, x.bill_no, "
            "       coalesce(x.line_no, a.line_no) AS line_no, x.amount_fen, a.n, a.debits, a.credits "
            "FROM expected x FULL JOIN actual a ON a.entry_id = x.entry_id AND a.line_no = x.line_no "
            "WHERE x.entry_id IS NULL OR a.entry_id IS NULL OR a.n <> 1 "
            "   OR a.account <> x.treasury_account OR a.account2 <> x.treasury_account "
            "   OR (x.kind = 'payment' AND (a.credits <> x.amount_fen OR a.debits <> 0)) "
            "   OR (x.kind = 'refund' AND (a.debits <> x.amount_fen OR a.credits <> 0)) "
            "ORDER BY 1, 4 LIMIT %s", (limit,)
        ):
            if r["bill_no"] is None:
                problems.append(f"entry {r['entry_id']} books line {r['line_no']} that its bill does not have")
            elif r["n"] is None:
                problems.append(f"{r['kind']} entry {r['entry_id']} of bill {r['bill_no']} "
                                f"does not book line {r['line_no']}")
            else:
                problems.append(f"{r['kind']} entry {r['entry_id']} of bill {r['bill_no']} books line "
                                f"{r['line_no']} wrongly: {r['n']} postings, debits {r['debits']}, "
                                f"credits {r['credits']} fen, line is {r['amount_fen']} fen")
        # the clearing side: one posting of the bill total per entry
        for r in self.all(
            "SELECT e.entry_id, e.kind, e.bill_no, b.total_fen, "
            "count(p.posting_id) AS n, coalesce(sum(p.debit_fen), 0) AS debits, "
            "coalesce(sum(p.credit_fen), 0) AS credits, coalesce(bool_and(p.account = %s), true) AS clearing "
            "FROM journal_entries e JOIN bills b USING (bill_no) "
            "LEFT JOIN postings p ON p.entry_id = e.entry_id AND p.line_no IS NULL "
            "WHERE e.kind IN ('payment', 'refund') "
            "GROUP BY e.entry_id, b.total_fen "
            "HAVING count(p.posting_id) <> 1 OR NOT coalesce(bool_and(p.account = %s), true) "
            "   OR (e.kind = 'payment' AND (coalesce(sum(p.debit_fen), 0) <> b.total_fen "
            "                               OR coalesce(sum(p.credit_fen), 0) <> 0)) "
            "   OR (e.kind = 'refund' AND (coalesce(sum(p.credit_fen), 0) <> b.total_fen "
            "                              OR coalesce(sum(p.debit_fen), 0) <> 0)) "
            "ORDER BY 1 LIMIT %s", (domain.CLEARING_ACCOUNT, domain.CLEARING_ACCOUNT, limit)
        ):
            problems.append(f"{r['kind']} entry {r['entry_id']} of bill {r['bill_no']} does not move the bill "
                            f"total {r['total_fen']} fen through the clearing account ({r['n']} postings, "
                            f"debits {r['debits']}, credits {r['credits']} fen)")
        # bill status against what was booked and recorded
        for r in self.all(
            "SELECT b.bill_no, b.status, b.total_fen, "
            "  (SELECT count(*) FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind = 'payment') AS paid_entries, "
            "  (SELECT count(*) FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind = 'refund') AS refund_entries, "
            "  p.amount_fen AS paid_fen, p.entry_id AS payment_entry, r.amount_fen AS refunded_fen, "
            "  r.entry_id AS refund_entry, "
            "  (SELECT e.entry_id FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind = 'payment' "
            "   LIMIT 1) AS booked_payment, "
            "  (SELECT e.entry_id FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind = 'refund' "
            "   LIMIT 1) AS booked_refund "
            "FROM bills b LEFT JOIN payments p USING (bill_no) LEFT JOIN refunds r USING (bill_no) "
            "WHERE NOT ("
            "  (b.status IN ('unpaid', 'waived', 'cancelled') AND p.bill_no IS NULL AND r.bill_no IS NULL) "
            "  OR (b.status IN ('paid', 'refunded') AND p.amount_fen = b.total_fen) "
            ") OR (b.status IN ('unpaid', 'waived', 'cancelled') AND EXISTS (SELECT 1 FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind <> 'reduction')) "
            "  OR (b.status = 'paid' AND (r.bill_no IS NOT NULL OR (SELECT count(*) FROM journal_entries e "
            "      WHERE e.bill_no = b.bill_no AND e.kind <> 'reduction') <> 1)) "
            "  OR (b.status = 'refunded' AND (r.amount_fen IS DISTINCT FROM b.total_fen OR (SELECT count(*) "
            "      FROM journal_entries e WHERE e.bill_no = b.bill_no AND e.kind <> 'reduction') <> 2)) "
            "  OR (p.entry_id IS NOT NULL AND p.entry_id IS DISTINCT FROM (SELECT e.entry_id FROM journal_entries e "
            "      WHERE e.bill_no = b.bill_no AND e.kind = 'payment' LIMIT 1)) "
            "  OR (r.entry_id IS NOT NULL AND r.entry_id IS DISTINCT FROM (SELECT e.entry_id FROM journal_entries e "
            "      WHERE e.bill_no = b.bill_no AND e.kind = 'refund' LIMIT 1)) "
            "ORDER BY 1 LIMIT %s", (limit,)
        ):
            problems.append(
                f"bill {r['bill_no']} is {r['status']} (total {r['total_fen']} fen) but has "
                f"{r['paid_entries']} payment and {r['refund_entries']} refund entries, payment "
                f"{r['paid_fen']} fen, refund {r['refunded_fen']} fen")
        # postings to accounts a bill line does not name, other than the clearing account
        for r in self.all(
            "SELECT p.posting_id, p.entry_id, p.account FROM postings p "
            "WHERE p.line_no IS NULL AND p.account <> %s AND NOT EXISTS (SELECT 1 FROM journal_entries e "
            "  WHERE e.entry_id = p.entry_id AND e.kind = 'reduction') ORDER BY 1 LIMIT %s",
            (domain.CLEARING_ACCOUNT, limit),
        ):
            problems.append(f"posting {r['posting_id']} of entry {r['entry_id']} books to {r['account']} "
                            "without a bill line")
        problems += self.reduction_problems(limit)
        return problems

    def reduction_problems(self, limit):
        """Reductions (减免): each booked line by line to the reductions
        account and as a whole to what applicants owe, never beyond a line,
        and every bill due its lines less what was reduced."""
        problems = []
        for r in self.all(
            "WITH expected AS (SELECT r.entry_id, r.bill_no, l.line_no, l.amount_fen FROM reductions r "
            "  JOIN line_reductions l USING (reduction_ref)), "
            "actual AS (SELECT p.entry_id, p.line_no, count(*) AS n, sum(p.debit_fen) AS debits, "
            "  sum(p.credit_fen) AS credits, bool_and(p.account = %s) AS on_account FROM postings p "
            "  JOIN journal_entries e USING (entry_id) WHERE e.kind = 'reduction' AND p.line_no IS NOT NULL "
            "  GROUP BY 1, 2) "
            "SELECT coalesce(x.entry_id, a.entry_id) AS entry_id, x.bill_no, coalesce(x.line_no, a.line_no) AS line_no, "
            "x.amount_fen, a.n, a.debits, a.credits FROM expected x FULL JOIN actual a "
            "ON a.entry_id = x.entry_id AND a.line_no = x.line_no "
            "WHERE x.entry_id IS NULL OR a.entry_id IS NULL OR a.n <> 1 OR NOT a.on_account "
            "OR a.debits <> x.amount_fen OR a.credits <> 0 ORDER BY 1, 3 LIMIT %s",
            (domain.REDUCTIONS_ACCOUNT, limit),
        ):
            problems.append(f"reduction entry {r['entry_id']} books line {r['line_no']} wrongly: {r['n']} "
                            f"postings, debits {r['debits']}, credits {r['credits']} fen, reduced {r['amount_fen']} fen")
        for r in self.all(
            "SELECT e.entry_id, e.bill_no, r.amount_fen, count(p.posting_id) AS n, "
            "coalesce(sum(p.credit_fen), 0) AS credits, coalesce(sum(p.debit_fen), 0) AS debits, "
            "(SELECT coalesce(sum(l.amount_fen), 0) FROM line_reductions l WHERE l.reduction_ref = r.reduction_ref) "
            "  AS lines_fen "
            "FROM journal_entries e LEFT JOIN reductions r ON r.entry_id = e.entry_id "
            "LEFT JOIN postings p ON p.entry_id = e.entry_id AND p.line_no IS NULL "
            "WHERE e.kind = 'reduction' GROUP BY e.entry_id, r.reduction_ref, r.amount_fen "
            "HAVING r.reduction_ref IS NULL OR count(p.posting_id) <> 1 "
            "OR NOT coalesce(bool_and(p.account = %s), false) OR coalesce(sum(p.credit_fen), 0) <> r.amount_fen "
            "OR coalesce(sum(p.debit_fen), 0) <> 0 "
            "OR (SELECT coalesce(sum(l.amount_fen), 0) FROM line_reductions l "
            "    WHERE l.reduction_ref = r.reduction_ref) <> r.amount_fen ORDER BY 1 LIMIT %s",
            (domain.APPLICANTS_DUE_ACCOUNT, limit),
        ):
            problems.append(f"reduction entry {r['entry_id']} of bill {r['bill_no']} does not book its "
                            f"{r['amount_fen']} fen to {domain.APPLICANTS_DUE_ACCOUNT} ({r['n']} postings, credits "
                            f"{r['credits']}, debits {r['debits']} fen, lines {r['lines_fen']} fen)")
        for r in self.all(
            "SELECT b.bill_no, b.total_fen, b.gross_fen, "
            "(SELECT coalesce(sum(l.amount_fen), 0) FROM bill_lines l WHERE l.bill_no = b.bill_no) AS lines_fen, "
            "(SELECT coalesce(sum(x.amount_fen), 0) FROM line_reductions x WHERE x.bill_no = b.bill_no) AS reduced_fen, "
            "EXISTS (SELECT 1 FROM bill_lines l WHERE l.bill_no = b.bill_no AND l.amount_fen < (SELECT "
            "  coalesce(sum(x.amount_fen), 0) FROM line_reductions x WHERE x.bill_no = l.bill_no "
            "  AND x.line_no = l.line_no)) AS over_reduced "
            "FROM bills b WHERE b.gross_fen <> (SELECT coalesce(sum(l.amount_fen), 0) FROM bill_lines l "
            "  WHERE l.bill_no = b.bill_no) "
            "OR b.total_fen <> b.gross_fen - (SELECT coalesce(sum(x.amount_fen), 0) FROM line_reductions x "
            "  WHERE x.bill_no = b.bill_no) "
            "OR EXISTS (SELECT 1 FROM bill_lines l WHERE l.bill_no = b.bill_no AND l.amount_fen < (SELECT "
            "  coalesce(sum(x.amount_fen), 0) FROM line_reductions x WHERE x.bill_no = l.bill_no "
            "  AND x.line_no = l.line_no)) "
            "ORDER BY 1 LIMIT %s", (limit,),
        ):
            problems.append(f"bill {r['bill_no']} is due {r['total_fen']} fen of {r['gross_fen']} fen issued, but its "
                            f"lines are {r['lines_fen']} fen less {r['reduced_fen']} fen reduced"
                            + (" (a line reduced beyond its amount)" if r["over_reduced"] else ""))
        return problems

    def ledger_figures(self):
        """The totals that must agree: cash through the clearing account
        against the bills, debits against credits."""
        figures = self.one(
            "SELECT (SELECT count(*) FROM journal_entries) AS entries, "
            "(SELECT count(*) FROM postings) AS postings, "
            "(SELECT coalesce(sum(debit_fen), 0) FROM postings)::bigint AS debits_fen, "
            "(SELECT coalesce(sum(credit_fen), 0) FROM postings)::bigint AS credits_fen, "
            "(SELECT coalesce(sum(debit_fen - credit_fen), 0) FROM postings WHERE account = %s)::bigint AS clearing_fen, "
            "(SELECT coalesce(sum(credit_fen - debit_fen), 0) FROM postings WHERE account NOT IN (%s, %s, %s))::bigint "
            "  AS treasury_fen, "
            "(SELECT coalesce(sum(debit_fen - credit_fen), 0) FROM postings WHERE account = %s)::bigint AS reductions_fen, "
            "(SELECT coalesce(sum(amount_fen), 0) FROM reductions)::bigint AS reduced_fen, "
            "(SELECT coalesce(sum(amount_fen), 0) FROM payments)::bigint AS received_fen, "
            "(SELECT coalesce(sum(amount_fen), 0) FROM refunds)::bigint AS refunded_fen, "
            "(SELECT coalesce(sum(total_fen), 0) FROM bills WHERE status = 'paid')::bigint AS held_for_paid_bills_fen",
            (domain.CLEARING_ACCOUNT, domain.CLEARING_ACCOUNT, domain.REDUCTIONS_ACCOUNT,
             domain.APPLICANTS_DUE_ACCOUNT, domain.REDUCTIONS_ACCOUNT),
        )
        figures["bills"] = {r["status"]: r["n"] for r in self.all(
            "SELECT status, count(*) AS n FROM bills GROUP BY status")}
        return figures
