"""fees service: nameko entrypoints only; the use cases behind them are in
cases.py.

One combined bill per case (一个窗口收费), one payment for every department,
each fen booked to its department's treasury account (收支两条线).
"""
from onewindow.config import Setting, non_negative_float, positive_int
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc, timer
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, CASHIER, DEPARTMENT, OPERATOR, READERS, SUPERVISOR, WINDOW
from onewindow.validation import load
from onewindow.workdays import CalendarCache

from . import cases, domain, schemas
from .store import FeesStore

LEDGER_CHECK_SECONDS = Setting("FEES_LEDGER_CHECK_SECONDS", "600", non_negative_float)
# An unpaid bill is reminded by SMS this many working days after it was issued.
REMINDER_WORKING_DAYS = Setting("FEES_REMINDER_WORKING_DAYS", "3", positive_int)
REMINDER_CHECK_SECONDS = Setting("FEES_REMINDER_CHECK_SECONDS", "3600", non_negative_float)


class FeesService:
    name = "fees"
    store = Database(FeesStore)
    metrics = Metrics()
    calendar = CalendarCache()

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ------------------------------------------------------------ events in

    # Keyed by the application (record_case) and one bill per case, under
    # the case's lock (issue_bill): a second run of one event changes
    # nothing, so a success keeps no inbox row, and the case's record is
    # its trace. Every case brings one.
    @event_handler("intake", "application_accepted", repeatable=True)
    def on_application_accepted(self, event):
        case = load(schemas.ApplicationAcceptedSchema, event)
        cases.case_accepted(self.store, case)

    @event_handler("intake", "application_withdrawn")
    def on_application_withdrawn(self, event):
        data = load(schemas.ApplicationWithdrawnSchema, event)
        cases.case_withdrawn(self.store, data)

    @event_handler("review", "review_completed")
    def on_review_completed(self, event):
        result = load(schemas.ReviewCompletedSchema, event)
        cases.review_completed(self.store, result)

    # ------------------------------------------------------------ bills

    @rpc(roles=(WINDOW, CASHIER, *READERS))
    def bill(self, application_no):
        args = load(schemas.ApplicationNoSchema, {"application_no": application_no})
        return cases.bill(self.store, args)

    @rpc(roles=(CASHIER,))
    def pay(self, bill_no, amount_fen, method, payment_ref):
        """One payment of the whole bill for every department; idempotent on
        payment_ref."""
        return cases.pay(self.store, bill_no, amount_fen, method, payment_ref)

    @rpc(roles=(CASHIER,))
    def refund(self, bill_no, reason, refund_ref):
        """The whole bill back; idempotent on refund_ref."""
        args = load(schemas.RefundSchema, {"bill_no": bill_no, "reason": reason, "refund_ref": refund_ref})
        return cases.refund(self.store, args)

    @rpc(roles=(DEPARTMENT,))
    def waive(self, bill_no, department, reason, waiver_ref):
        """Waive (减免) an unpaid bill; idempotent on waiver_ref."""
        args = load(schemas.WaiveSchema, {"bill_no": bill_no, "department": department, "reason": reason,
                                          "waiver_ref": waiver_ref})
        return cases.waive(self.store, args)

    @rpc(roles=(DEPARTMENT,))
    def reduce(self, bill_no, department, lines, reduction_ref):
        """减免 of single lines by the department owning them; idempotent on
        reduction_ref."""
        args = load(schemas.ReduceSchema, {"bill_no": bill_no, "department": department, "lines": lines,
                                           "reduction_ref": reduction_ref})
        return cases.reduce(self.store, args)

    @rpc(roles=(SUPERVISOR, OPERATOR))
    def remind_unpaid(self, as_of=None):
        query = load(schemas.RemindQuery, {"as_of": as_of})
        return cases.remind_unpaid(self.store, self.calendar(), REMINDER_WORKING_DAYS(), query["as_of"])

    @timer(interval=REMINDER_CHECK_SECONDS())
    def remind_unpaid_on_timer(self):
        cases.remind_unpaid(self.store, self.calendar(), REMINDER_WORKING_DAYS())

    # ------------------------------------------------------------ reports

    @rpc(roles=(CASHIER, *READERS))
    def totals(self, start, end, group_by):
        """Received, refunded and net fen for the days start..end (inclusive)
        by department, fee_code, treasury_account, day or month; the month
        view adds last year's net for the same month and the growth."""
        start_day, end_day = domain.check_period(start, end, group_by)
        return self.store.period_totals(start_day, end_day, group_by)

    @rpc(roles=(CASHIER, *READERS))
    def check_ledger(self):
        return cases.check_ledger(self.store)

    @timer(interval=LEDGER_CHECK_SECONDS())
    def verify_ledger(self):
        cases.check_ledger(self.store)
