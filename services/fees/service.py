"""fees service: nameko entrypoints only; the use cases behind them are in
cases.py.

One combined bill per case (一个窗口收费), one payment for every department,
each fen booked to its department's treasury account (收支两条线).
"""
import os

from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc, timer
from onewindow.errors import NotFound
from onewindow.metrics import Metrics
from onewindow.validation import load

from . import cases, domain, schemas
from .store import FeesStore

LEDGER_CHECK_SECONDS = float(os.environ.get("FEES_LEDGER_CHECK_SECONDS", "600"))


class FeesService:
    name = "fees"
    db = Database(dao=FeesStore)
    metrics = Metrics()

    @rpc
    def health(self):
        self.db.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ------------------------------------------------------------ events in

    @event_handler("intake", "application_accepted")
    def on_application_accepted(self, event):
        cases.case_accepted(self.db, event)

    @event_handler("review", "review_completed")
    def on_review_completed(self, event):
        cases.review_completed(self.db, event)

    # ------------------------------------------------------------ bills

    @rpc
    def bill(self, application_no):
        args = load(schemas.ApplicationNoSchema, {"application_no": application_no})
        bill = self.db.bill_of_case(args["application_no"])
        if bill is None:
            raise NotFound(f"no bill for {application_no}")
        return cases.bill_view(bill)

    @rpc
    def pay(self, bill_no, amount_fen, method, payment_ref):
        """One payment of the whole bill for every department; idempotent on
        payment_ref."""
        return cases.pay(self.db, bill_no, amount_fen, method, payment_ref)

    @rpc
    def refund(self, bill_no, reason, refund_ref):
        """The whole bill back; idempotent on refund_ref."""
        return cases.refund(self.db, bill_no, reason, refund_ref)

    @rpc
    def waive(self, bill_no, department, reason, waiver_ref):
        """Waive (减免) an unpaid bill; idempotent on waiver_ref."""
        return cases.waive(self.db, bill_no, department, reason, waiver_ref)

    # ------------------------------------------------------------ reports

    @rpc
    def totals(self, start, end, group_by):
        """Received, refunded and net fen for the days start..end (inclusive)
        by department, fee_code, treasury_account, day or month; the month
        view adds last year's net for the same month and the growth."""
        start_day, end_day = domain.check_period(start, end, group_by)
        return self.db.period_totals(start_day, end_day, group_by)

    @rpc
    def check_ledger(self):
        return cases.check_ledger(self.db)

    @timer(interval=LEDGER_CHECK_SECONDS)
    def verify_ledger(self):
        cases.check_ledger(self.db)
