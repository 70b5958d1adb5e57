"""review service: nameko entrypoints only; the steps behind them are in
cases.py."""
import logging
import os

from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc, timer
from onewindow.errors import NotFound
from onewindow.metrics import Metrics
from onewindow.validation import load

from . import cases, schemas
from .store import ReviewStore

log = logging.getLogger(__name__)

SUPERVISE_INTERVAL = float(os.environ.get("OW_SUPERVISE_INTERVAL", "60"))


class ReviewService:
    name = "review"
    db = Database(dao=ReviewStore)
    metrics = Metrics()

    @rpc
    def health(self):
        self.db.one("SELECT 1")
        return {"ok": True, "service": self.name}

    @rpc
    def tasks(self, department, status=None):
        query = load(schemas.TasksQuery, {"department": department, "status": status})
        rows = self.db.tasks_of_department(query["department"], query["status"])
        roster = self.db.roster(query["department"])
        return [cases.task_view(row, roster, with_fields=True) for row in rows]

    @rpc
    def application(self, application_no):
        query = load(schemas.ApplicationQuery, {"application_no": application_no})
        application = self.db.application(query["application_no"])
        if application is None:
            raise NotFound(f"no application {query['application_no']} under review")
        tasks = self.db.tasks_of(application["application_no"])
        rosters = self.db.rosters({t["department"] for t in tasks})
        return {
            "application_no": application["application_no"], "status": application["status"],
            "item_code": application["item_code"], "item_name": application["item_name"],
            "clock": application["clock"], "completed_at": application["completed_at"],
            "tasks": [cases.task_view(t, rosters.get(t["department"])) for t in tasks],
            "history": [cases.history_view(h) for h in self.db.history_of(application["application_no"])],
            "supervision_notices": [
                {k: n[k] for k in ("task_id", "department", "clock", "level", "notice_no", "due_date",
                                   "working_days", "as_of", "issued_at")}
                for n in self.db.notices_of(application["application_no"])],
        }

    @rpc
    def decide(self, task_id, department, reviewer, decision, opinion, client_ref, missing_materials=None,
               legal_basis=None):
        args = load(schemas.Decide, {
            "task_id": task_id, "department": department, "reviewer": reviewer, "decision": decision,
            "opinion": opinion, "client_ref": client_ref, "missing_materials": missing_materials,
            "legal_basis": legal_basis})
        result = cases.decide(self.db, args)
        cases.refresh_gauges(self.db)
        return result

    @rpc
    def roster(self, department):
        roster = self.db.roster(department)
        if roster is None:
            raise NotFound(f"no roster for {department}")
        return cases.roster_view(roster)

    @rpc
    def set_roster(self, department, primary, backup, primary_phone=None, backup_phone=None, department_name=None):
        data = load(schemas.SetRoster, {
            "department": department, "primary": primary, "backup": backup, "primary_phone": primary_phone,
            "backup_phone": backup_phone, "department_name": department_name})
        return cases.set_roster(self.db, data)

    @rpc
    def set_absent(self, department, reviewer, absent):
        data = load(schemas.SetAbsent, {"department": department, "reviewer": reviewer, "absent": absent})
        return cases.set_absent(self.db, data)

    @rpc
    def supervise(self, as_of=None):
        query = load(schemas.AsOf, {"as_of": as_of})
        return cases.supervise(self.db, query["as_of"])

    @timer(interval=SUPERVISE_INTERVAL)
    def supervise_on_timer(self):
        summary = cases.supervise(self.db, None)
        if summary["warnings"] or summary["overdue"] or summary["deemed_approved"]:
            log.info("supervision: %d warnings, %d overdue, %d deemed approved", len(summary["warnings"]),
                     len(summary["overdue"]), len(summary["deemed_approved"]))

    @rpc
    def recompute_provisional(self):
        return cases.recompute_provisional(self.db)

    @event_handler("intake", "application_accepted")
    def on_application_accepted(self, event):
        cases.accept(self.db, event)
        cases.refresh_gauges(self.db)

    @event_handler("intake", "materials_supplemented")
    def on_materials_supplemented(self, event):
        cases.restart(self.db, event)
        cases.refresh_gauges(self.db)
