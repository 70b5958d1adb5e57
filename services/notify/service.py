"""notify service: nameko entrypoints only. It turns the other services'
events into queued SMS (at most one per event, template and recipient); the
SmsSender loop hands them to the provider. The steps behind the entrypoints
are in cases.py."""
from onewindow import personal
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, GATEWAY, OPERATOR, READERS, SERVICE, WINDOW
from onewindow.validation import load

from . import cases, schemas
from .dispatch import SmsSender
from .store import NotifyStore


def notice_handler(source_service, *event_types):
    """What every notify handler is. It queues its texts keyed by (event,
    template, recipient) and upserts what it learns of the contact: run
    twice on one event it changes nothing, so a success writes no inbox row
    (`repeatable`), a statement and a copy of the event less for each of
    the three events a case brings. A failure, or a wait for intake's first
    event, is kept in the inbox as ever. What an event caused is in
    `messages` (event_id). The only row it locks is its case's contact, so
    the events waiting in a queue are handled together, in one transaction,
    in the order of their cases (`batched`, `lock_order`): a busy notify
    spends a BEGIN, a COMMIT and a worker on several events instead of on
    each."""
    return event_handler(source_service, *event_types, repeatable=True, batched=True, lock_order="application_no")


class NotifyService:
    name = "notify"
    store = Database(NotifyStore)
    metrics = Metrics()
    settings = SmsSender()

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ---------------------------------------------------------------- RPC

    @rpc(roles=(WINDOW, *READERS))
    def messages(self, application_no=None, phone=None):
        query = load(schemas.MessagesQuery, {"application_no": application_no, "phone": phone})
        phone = personal.normal_phone(query["phone"]) if query["phone"] else None
        return [cases.present(row) for row in self.store.messages(query["application_no"], phone)]

    @rpc(roles=(SERVICE, GATEWAY, OPERATOR))
    def delivery_report(self, provider_message_id, status, reason=None):
        report = load(schemas.DeliveryReport,
                      {"provider_message_id": provider_message_id, "status": status, "reason": reason})
        return cases.apply_receipt(self.store, report)

    # ------------------------------------------------------------- events
    # Every handler is a notice_handler (above).

    @notice_handler("intake", "application_accepted")
    def on_application_accepted(self, event):
        data = load(schemas.ApplicationAccepted, event)
        cases.application_accepted(self.store, self.settings, event, data)

    @notice_handler("intake", "materials_requested")
    def on_intake_materials_requested(self, event):
        data = load(schemas.IntakeMaterialsRequested, event)
        cases.intake_materials_requested(self.store, self.settings, event, data)

    @notice_handler("intake", "application_completed")
    def on_application_completed(self, event):
        data = load(schemas.ApplicationCompleted, event)
        cases.application_completed(self.store, self.settings, event, data)

    @notice_handler("review", "materials_requested")
    def on_review_materials_requested(self, event):
        data = load(schemas.ReviewMaterialsRequested, event)
        cases.notify_applicant(self.store, self.settings, event, "materials_requested", data)

    @notice_handler("review", "review_completed")
    def on_review_completed(self, event):
        data = load(schemas.ReviewCompleted, event)
        cases.notify_applicant(self.store, self.settings, event, "review_completed", data)

    @notice_handler("review", "task_warning")
    def on_task_warning(self, event):
        data = load(schemas.TaskWarning, event)
        cases.notify_staff(self.store, self.settings, event, "task_warning", data)

    @notice_handler("review", "task_overdue")
    def on_task_overdue(self, event):
        data = load(schemas.TaskOverdue, event)
        cases.notify_staff(self.store, self.settings, event, "task_overdue", data)

    @notice_handler("review", "task_extended")
    def on_task_extended(self, event):
        data = load(schemas.TaskExtended, event)
        cases.notify_applicant(self.store, self.settings, event, "task_extended", data)

    @notice_handler("review", "notice_escalated")
    def on_notice_escalated(self, event):
        data = load(schemas.NoticeEscalated, event)
        cases.notify_staff(self.store, self.settings, event, "notice_escalated", data)

    @notice_handler("review", "task_unstaffed")
    def on_task_unstaffed(self, event):
        data = load(schemas.TaskUnstaffed, event)
        cases.notify_staff(self.store, self.settings, event, "task_unstaffed", data)

    @notice_handler("intake", "application_refused")
    def on_application_refused(self, event):
        data = load(schemas.ApplicationRefused, event)
        cases.application_refused(self.store, self.settings, event, data)

    @notice_handler("intake", "application_withdrawn")
    def on_application_withdrawn(self, event):
        data = load(schemas.ApplicationWithdrawn, event)
        cases.application_withdrawn(self.store, self.settings, event, data)

    @notice_handler("intake", "complaint_received", "complaint_warning", "complaint_overdue", "complaint_answered")
    def on_complaint_event(self, event, event_type):
        data = load(schemas.ComplaintEvent, event)
        cases.notify_staff(self.store, self.settings, event, event_type, data)

    @notice_handler("fees", "bill_issued", "bill_paid", "bill_refunded", "bill_reduced", "bill_waived", "bill_reminder")
    def on_bill_event(self, event, event_type):
        data = load(schemas.BillEvent, event)
        cases.notify_applicant(self.store, self.settings, event, event_type, data)

    @notice_handler("hall", *cases.HALL_NOTICES)
    def on_hall_event(self, event, event_type):
        data = load(schemas.HallEvent, event)
        cases.notify_visitor(self.store, self.settings, event, event_type, data)

    @notice_handler("portal", "tracking_code_requested")
    def on_tracking_code_requested(self, event):
        data = load(schemas.TrackingCode, event)
        cases.send_tracking_code(self.store, self.settings, event, data)
