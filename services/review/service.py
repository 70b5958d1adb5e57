"""review service: nameko entrypoints only; the steps behind them are in
cases.py."""
import logging
from onewindow.config import Setting, non_negative_float, positive_int
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc, timer
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, DEPARTMENT, OPERATOR, READERS, SERVICE, SUPERVISOR, WINDOW
from onewindow.validation import load
from onewindow.workdays import CalendarCache

from . import cases, schemas
from .store import ReviewStore

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = Setting("OW_SUPERVISE_INTERVAL", "60", non_negative_float)
# Dashboards scrape every 15 s: counting open tasks on a timer, not after
# every event and decision, keeps that work off the cases' path.
GAUGE_SECONDS = Setting("REVIEW_GAUGE_SECONDS", "5", non_negative_float)
# working days an unanswered supervision notice waits before it rises a level
ESCALATE_AFTER = Setting("OW_ESCALATION_WORKING_DAYS", "2", positive_int)


class ReviewService:
    name = "review"
    store = Database(ReviewStore)
    metrics = Metrics()
    calendar = CalendarCache()

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    @rpc(roles=(DEPARTMENT, SERVICE, *READERS))
    def tasks(self, department, status=None, limit=None, offset=0):
        query = load(schemas.TasksQuery, {"department": department, "status": status, "limit": limit,
                                          "offset": offset})
        return cases.tasks(self.store, query)

    @rpc(roles=(DEPARTMENT, *READERS))
    def feed(self, department, after=None, limit=100):
        return cases.feed(self.store, load(schemas.FeedQuery, {"department": department, "after": after,
                                                            "limit": limit}))

    @rpc(roles=READERS)
    def vetoes(self, start, end):
        return cases.vetoes(self.store, load(schemas.Period, {"start": start, "end": end}))

    @rpc(roles=READERS)
    def notices(self, status=None):
        return cases.notices(self.store, load(schemas.NoticesQuery, {"status": status})["status"])

    @rpc(roles=(SUPERVISOR,))
    def answer_notice(self, notice_no, answer, client_ref):
        args = load(schemas.AnswerNotice, {"notice_no": notice_no, "answer": answer, "client_ref": client_ref})
        return cases.answer_notice(self.store, args, by=self.caller.label())

    @rpc(roles=READERS)
    def supervision_contacts(self):
        return cases.supervision_contacts(self.store)

    @rpc(roles=(SUPERVISOR,))
    def set_supervision_contact(self, level, name, phone):
        return cases.set_supervision_contact(self.store, load(schemas.SupervisionContact, {
            "level": level, "name": name, "phone": phone}))

    @rpc(roles=(DEPARTMENT,))
    def extend(self, task_id, department, working_days, reason, client_ref):
        args = load(schemas.Extend, {"task_id": task_id, "department": department, "working_days": working_days,
                                     "reason": reason, "client_ref": client_ref})
        return cases.extend(self.store, self.calendar(), args, by=self.caller.label())

    @rpc(roles=(WINDOW, DEPARTMENT, *READERS))
    def application(self, application_no):
        query = load(schemas.ApplicationQuery, {"application_no": application_no})
        return cases.application(self.store, query, self.caller)

    @rpc(roles=(DEPARTMENT,))
    def decide(self, task_id, department, reviewer, decision, opinion, client_ref, missing_materials=None,
               legal_basis=None, result=None):
        decided = cases.decide(self.store, self.calendar(), {
            "task_id": task_id, "department": department, "reviewer": reviewer, "decision": decision,
            "opinion": opinion, "client_ref": client_ref, "missing_materials": missing_materials,
            "legal_basis": legal_basis, "result": result}, by=self.caller.label())
        return decided

    @rpc(roles=(DEPARTMENT, *READERS))
    def roster(self, department):
        return cases.roster(self.store, department)

    @rpc(roles=(SUPERVISOR,))
    def set_roster(self, department, primary, backup, primary_phone=None, backup_phone=None, department_name=None):
        data = load(schemas.SetRoster, {
            "department": department, "primary": primary, "backup": backup, "primary_phone": primary_phone,
            "backup_phone": backup_phone, "department_name": department_name})
        return cases.set_roster(self.store, data, by=self.caller.label())

    @rpc(roles=(DEPARTMENT,))
    def set_absent(self, department, reviewer, absent):
        data = load(schemas.SetAbsent, {"department": department, "reviewer": reviewer, "absent": absent})
        return cases.set_absent(self.store, data, by=self.caller.label())

    @rpc(roles=(SUPERVISOR,))
    def supervise(self, as_of=None, dry_run=False):
        query = load(schemas.AsOf, {"as_of": as_of, "dry_run": dry_run})
        return cases.supervise(self.store, self.calendar(), query["as_of"], query["dry_run"], ESCALATE_AFTER())

    @timer(interval=GAUGE_SECONDS())
    def refresh_gauges(self):
        cases.refresh_gauges(self.store)

    @timer(interval=SUPERVISE_INTERVAL())
    def supervise_on_timer(self):
        summary = cases.supervise(self.store, self.calendar(), None, escalate_after=ESCALATE_AFTER())
        if summary["warnings"] or summary["overdue"] or summary["deemed_approved"]:
            log.info("supervision: %d warnings, %d overdue, %d deemed approved", len(summary["warnings"]),
                     len(summary["overdue"]), len(summary["deemed_approved"]))

    @rpc(roles=(OPERATOR,))
    def recompute_provisional(self):
        self.calendar.invalidate()
        return cases.recompute_provisional(self.store, self.calendar())

    # Keyed by the application (add_application): a second run of one
    # event opens nothing, so a success keeps no inbox row. Two in three
    # acceptances are instant items, which review has nothing to do with:
    # so they cost it no transaction at all. A case under review keeps the
    # event that opened it (applications.source_event_id).
    @event_handler("intake", "application_accepted", repeatable=True)
    def on_application_accepted(self, event):
        data = load(schemas.ApplicationAccepted, event)
        cases.accept(self.store, data)

    @event_handler("intake", "application_withdrawn")
    def on_application_withdrawn(self, event):
        data = load(schemas.ApplicationWithdrawn, event)
        cases.withdraw(self.store, data)

    @event_handler("intake", "materials_supplemented")
    def on_materials_supplemented(self, event):
        data = load(schemas.MaterialsSupplemented, event)
        cases.restart(self.store, self.calendar(), data)
