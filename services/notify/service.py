"""notify service: nameko entrypoints only. It turns the other services'
events into queued SMS (at most one per event, template and recipient); the
SmsSender loop hands them to the provider. The steps behind the entrypoints
are in cases.py."""
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc
from onewindow.metrics import Metrics
from onewindow.validation import load

from . import cases, domain, schemas
from .dispatch import SmsSender
from .store import NotifyStore


class NotifyService:
    name = "notify"
    db = Database(dao=NotifyStore)
    metrics = Metrics()
    settings = SmsSender()

    @rpc
    def health(self):
        self.db.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ---------------------------------------------------------------- RPC

    @rpc
    def messages(self, application_no=None, phone=None):
        query = load(schemas.MessagesQuery, {"application_no": application_no, "phone": phone})
        phone = domain.normalize_phone(query["phone"]) if query["phone"] else None
        return [cases.present(row) for row in self.db.messages(query["application_no"], phone)]

    @rpc
    def delivery_report(self, provider_message_id, status, reason=None):
        report = load(schemas.DeliveryReport,
                      {"provider_message_id": provider_message_id, "status": status, "reason": reason})
        return cases.apply_receipt(self.db, report)

    # ------------------------------------------------------------- events

    @event_handler("intake", "application_accepted")
    def on_application_accepted(self, event):
        data = load(schemas.ApplicationAccepted, event)
        contact = domain.contact_from_accepted(data)
        self.db.remember_contact(contact)
        cases.queue(self.db, self.settings, event, "application_accepted", domain.acceptance_notices(data, contact))

    @event_handler("intake", "materials_requested")
    def on_intake_materials_requested(self, event):
        data = load(schemas.IntakeMaterialsRequested, event)
        self.db.remember_contact(domain.contact_from_applicant(data))
        contact = cases.contact_of(self.db, data)
        cases.queue(self.db, self.settings, event, "materials_requested", domain.materials_notices(data, contact))

    @event_handler("intake", "application_completed")
    def on_application_completed(self, event):
        data = load(schemas.ApplicationCompleted, event)
        if data.get("applicant"):
            self.db.remember_contact(domain.contact_from_applicant(data))
        contact = cases.contact_of(self.db, data)
        cases.queue(self.db, self.settings, event, "application_completed", domain.completion_notices(data, contact))

    @event_handler("review", "materials_requested")
    def on_review_materials_requested(self, event):
        cases.notify_applicant(self.db, self.settings, event, schemas.ReviewMaterialsRequested, "materials_requested",
                               domain.materials_notices)

    @event_handler("review", "review_completed")
    def on_review_completed(self, event):
        cases.notify_applicant(self.db, self.settings, event, schemas.ReviewCompleted, "review_completed",
                               domain.review_notices)

    @event_handler("review", "task_warning")
    def on_task_warning(self, event):
        data = load(schemas.TaskWarning, event)
        cases.queue(self.db, self.settings, event, "task_warning", domain.warning_notices(data))

    @event_handler("review", "task_overdue")
    def on_task_overdue(self, event):
        data = load(schemas.TaskOverdue, event)
        cases.queue(self.db, self.settings, event, "task_overdue", domain.overdue_notices(data))

    @event_handler("fees", "bill_issued")
    def on_bill_issued(self, event):
        cases.notify_applicant(self.db, self.settings, event, schemas.BillEvent, "bill_issued",
                               domain.bill_issued_notices)

    @event_handler("fees", "bill_paid")
    def on_bill_paid(self, event):
        cases.notify_applicant(self.db, self.settings, event, schemas.BillEvent, "bill_paid",
                               domain.bill_paid_notices)

    @event_handler("fees", "bill_refunded")
    def on_bill_refunded(self, event):
        cases.notify_applicant(self.db, self.settings, event, schemas.BillEvent, "bill_refunded",
                               domain.bill_refunded_notices)
