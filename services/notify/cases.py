"""What notify does with an event or a receipt: the steps behind the
entrypoints. Each function works on one NotifyStore (one transaction); no
nameko here."""
import datetime
import logging

from onewindow.errors import NotFound
from onewindow.validation import load

from . import domain
from . import metrics as sms_metrics

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


# ---------------------------------------------------------------- receipts

def apply_receipt(db, report):
    message = db.message_by_provider_id(report["provider_message_id"])
    if message is None:
        raise NotFound(f"no message with provider_message_id {report['provider_message_id']}")
    if message["status"] == "sent":
        message = db.apply_receipt(message["message_id"], report["status"],
                                   f"provider receipt: {report['reason'] or 'undelivered'}")
        db.emit_status(message)
        sms_metrics.counted(message["template"], message["status"], message["segments"])
    elif message["status"] != report["status"]:
        # a receipt after a final one changes nothing; the first one stands
        log.warning("receipt %s for message %s already %s; ignored", report["status"],
                    message["message_id"], message["status"])
    return present(message)


# ---------------------------------------------------------------- events

def contact_of(db, data, accepted=False):
    """The applicant's contact learnt from intake's events."""
    contact = db.contact(data["application_no"])
    if contact is None or (accepted and not contact["accepted"]):
        # intake's event travels on another queue and may still be on its way;
        # what follows acceptance needs its record (collect, fees)
        raise domain.ContactUnknown(f"no applicant contact yet for {data['application_no']}"
                                    f"{' as accepted' if accepted else ''}")
    return contact  # without a usable phone the domain sends nothing


def queue(db, settings, event, event_type, notices):
    """Render every notice first (a missing variable fails the whole
    event, nothing half-queued), then queue each once."""
    rendered = [(n, TEMPLATES[n.template], TEMPLATES.render(n.template, n.variables, settings.sign_name))
                for n in notices]
    now = datetime.datetime.now(settings.time_zone)
    quiet_end = domain.quiet_until(now, settings.quiet_hours)
    for notice, template, text in rendered:
        held_until = None if template.urgent else quiet_end
        row = db.enqueue(
            event_id=event["event_id"], event_type=event_type, notice=notice, rendered=text,
            urgent=template.urgent, provider=settings.provider, not_before=held_until,
            held_reason="quiet_hours" if held_until else None,
        )
        if row is None:
            continue  # this event already queued it
        sms_metrics.counted(row["template"], "queued", row["segments"])
        if held_until:
            sms_metrics.HELD.labels("quiet_hours").inc()


def notify_applicant(db, settings, event, schema, event_type, notices):
    """An event after acceptance: load it, find the accepted applicant's
    contact (or raise, to be retried), queue what `notices` says to send."""
    data = load(schema, event)
    contact = contact_of(db, data, accepted=True)
    queue(db, settings, event, event_type, notices(data, contact))
