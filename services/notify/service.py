"""notify service: nameko entrypoints only. It turns the other services'
events into queued SMS (at most one per event, template and recipient); the
SmsSender loop hands them to the provider."""
import datetime
import logging

from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc
from onewindow.errors import NotFound
from onewindow.metrics import Metrics
from onewindow.validation import load

from . import domain, schemas
from . import metrics as sms_metrics
from .dispatch import SmsSender
from .store import NotifyStore

log = logging.getLogger(__name__)

TEMPLATES = domain.TemplateBook.load()


def present(row):
    """A message as the contract shows it, with extras; never the full phone."""
    return {
        "message_id": row["message_id"],
        "event_id": row["event_id"],
        "template": row["template"],
        "text": row["text"],
        "segments": row["segments"],
        "status": domain.contract_status(row["status"]),
        "attempts": row["attempts"],
        "lifecycle": row["status"],
        "application_no": row["application_no"],
        "event_type": row["event_type"],
        "recipient_role": row["recipient_role"],
        "phone_masked": domain.mask_phone(row["phone"]),
        "urgent": row["urgent"],
        "held": row["status"] == "queued" and row["held_reason"] is not None,
        "held_reason": row["held_reason"] if row["status"] == "queued" else None,
        "not_before": row["not_before"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == "queued" else None,
        "provider": row["provider"],
        "provider_message_id": row["provider_message_id"],
        "last_error": row["last_error"],
        "failure_reason": row["failure_reason"],
        "created_at": row["created_at"],
        "sent_at": row["sent_at"],
        "delivered_at": row["delivered_at"],
        "failed_at": row["failed_at"],
    }


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
        query = load(schemas.MessagesQuery(), {"application_no": application_no, "phone": phone})
        phone = domain.normalize_phone(query["phone"]) if query["phone"] else None
        return [present(row) for row in self.db.messages(query["application_no"], phone)]

    @rpc
    def delivery_report(self, provider_message_id, status, reason=None):
        report = load(schemas.DeliveryReport(),
                      {"provider_message_id": provider_message_id, "status": status, "reason": reason})
        message = self.db.message_by_provider_id(report["provider_message_id"])
        if message is None:
            raise NotFound(f"no message with provider_message_id {report['provider_message_id']}")
        if message["status"] == "sent":
            message = self.db.apply_receipt(message["message_id"], report["status"],
                                            f"provider receipt: {report['reason'] or 'undelivered'}")
            self.db.emit_status(message)
            sms_metrics.counted(message["template"], message["status"], message["segments"])
        elif message["status"] != report["status"]:
            # a receipt after a final one changes nothing; the first one stands
            log.warning("receipt %s for message %s already %s; ignored", report["status"],
                        message["message_id"], message["status"])
        return present(message)

    # ------------------------------------------------------------- events

    @event_handler("intake", "application_accepted")
    def on_application_accepted(self, event):
        data = load(schemas.ApplicationAccepted(), event)
        contact = domain.contact_from_accepted(data)
        self.db.remember_contact(contact)
        self._queue(event, "application_accepted", domain.acceptance_notices(data, contact))

    @event_handler("intake", "materials_requested")
    def on_intake_materials_requested(self, event):
        data = load(schemas.IntakeMaterialsRequested(), event)
        self.db.remember_contact(domain.contact_from_applicant(data))
        self._queue(event, "materials_requested", domain.materials_notices(data, self._contact(data)))

    @event_handler("intake", "application_completed")
    def on_application_completed(self, event):
        data = load(schemas.ApplicationCompleted(), event)
        if data.get("applicant"):
            self.db.remember_contact(domain.contact_from_applicant(data))
        self._queue(event, "application_completed", domain.completion_notices(data, self._contact(data)))

    @event_handler("review", "materials_requested")
    def on_review_materials_requested(self, event):
        data = load(schemas.ReviewMaterialsRequested(), event)
        self._queue(event, "materials_requested", domain.materials_notices(data, self._contact(data, accepted=True)))

    @event_handler("review", "review_completed")
    def on_review_completed(self, event):
        data = load(schemas.ReviewCompleted(), event)
        self._queue(event, "review_completed", domain.review_notices(data, self._contact(data, accepted=True)))

    @event_handler("review", "task_warning")
    def on_task_warning(self, event):
        data = load(schemas.TaskWarning(), event)
        self._queue(event, "task_warning", domain.warning_notices(data))

    @event_handler("review", "task_overdue")
    def on_task_overdue(self, event):
        data = load(schemas.TaskOverdue(), event)
        self._queue(event, "task_overdue", domain.overdue_notices(data))

    @event_handler("fees", "bill_issued")
    def on_bill_issued(self, event):
        data = load(schemas.BillEvent(), event)
        self._queue(event, "bill_issued", domain.bill_issued_notices(data, self._contact(data, accepted=True)))

    @event_handler("fees", "bill_paid")
    def on_bill_paid(self, event):
        data = load(schemas.BillEvent(), event)
        self._queue(event, "bill_paid", domain.bill_paid_notices(data, self._contact(data, accepted=True)))

    @event_handler("fees", "bill_refunded")
    def on_bill_refunded(self, event):
        data = load(schemas.BillEvent(), event)
        self._queue(event, "bill_refunded", domain.bill_refunded_notices(data, self._contact(data, accepted=True)))

    # ------------------------------------------------------------- helpers

    def _contact(self, data, accepted=False):
        contact = self.db.contact(data["application_no"])
        if contact is None or (accepted and not contact["accepted"]):
            # intake's event travels on another queue and may still be on its way;
            # what follows acceptance needs its record (collect, fees)
            raise domain.ContactUnknown(f"no applicant contact yet for {data['application_no']}"
                                        f"{' as accepted' if accepted else ''}")
        return contact  # without a usable phone the domain sends nothing

    def _queue(self, event, event_type, notices):
        """Render every notice first (a missing variable fails the whole
        event, nothing half-queued), then queue each once."""
        settings = self.settings
        rendered = [(n, TEMPLATES[n.template], TEMPLATES.render(n.template, n.variables, settings.sign_name))
                    for n in notices]
        now = datetime.datetime.now(settings.time_zone)
        quiet_end = domain.quiet_until(now, settings.quiet_hours)
        for notice, template, text in rendered:
            held_until = None if template.urgent else quiet_end
            row = self.db.enqueue(
                event_id=event["event_id"], event_type=event_type, notice=notice, rendered=text,
                urgent=template.urgent, provider=settings.provider, not_before=held_until,
                held_reason="quiet_hours" if held_until else None,
            )
            if row is None:
                continue  # this event already queued it
            sms_metrics.counted(row["template"], "queued", row["segments"])
            if held_until:
                sms_metrics.HELD.labels("quiet_hours").inc()
