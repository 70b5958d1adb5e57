"""What notify does with an event or a receipt: the steps behind the
entrypoints. Each function works on one NotifyStore (one transaction); no
nameko here."""
import datetime
import logging

from onewindow import personal
from onewindow.errors import PrerequisiteMissing

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
        "phone_masked": personal.mask_phone(row["phone"]),
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

def apply_receipt(store, report):
    """A provider's receipt. One for a send not recorded yet (the provider
    called back before our commit) is kept and applied when it is."""
    message = store.message_by_provider_id(report["provider_message_id"])
    if message is None:
        store.keep_early_receipt(report["provider_message_id"], report["status"], report["reason"])
        log.info("receipt for %s before its send was recorded; kept", report["provider_message_id"])
        return {"provider_message_id": report["provider_message_id"], "status": report["status"],
                "kept_until_sent": True}
    if message["status"] == "sent":
        message = _settle(store, message, report["status"], report["reason"])
        store.emit_statuses([message])
    elif message["status"] != report["status"]:
        # a receipt after a final one changes nothing; the first one stands
        log.warning("receipt %s for message %s already %s; ignored", report["status"],
                    message["message_id"], message["status"])
    return present(message)


def apply_early_receipt(store, sent, early):
    """Just recorded as sent: apply the receipt that came first (taken with
    the send's record, store.record_sent). The message as settled; its
    status is the caller's to emit, with the rest of its record."""
    return _settle(store, sent, early["status"], early["reason"])


def _settle(store, message, status, reason):
    message = store.apply_receipt(message["message_id"], status, f"provider receipt: {reason or 'undelivered'}")
    sms_metrics.counted(message["template"], message["status"], message["segments"])
    return message


# ---------------------------------------------------------------- events

def contact_of(store, data, accepted=False):
    """The applicant's contact learnt from intake's events."""
    return known(store.contact(data["application_no"]), data, accepted)


def known(contact, data, accepted=False):
    """`contact` (as read or as a write returned it), or PrerequisiteMissing
    when there is none yet, or none accepted where `accepted` is asked."""
    if contact is None or (accepted and not contact["accepted"]):
        # intake's event travels on another queue and may still be on its way;
        # what follows acceptance needs its record (collect, fees)
        raise PrerequisiteMissing(f"no applicant contact yet for {data['application_no']}"
                                    f"{' as accepted' if accepted else ''}")
    return contact  # without a usable phone the domain sends nothing


def queue(store, settings, event, event_type, notices):
    """Render every notice first (a missing variable fails the whole
    event, nothing half-queued), then queue each once."""
    rendered = [(n, TEMPLATES[n.template], TEMPLATES.render(n.template, n.variables, settings.sign_name))
                for n in notices]
    now = datetime.datetime.now(settings.time_zone)
    quiet_end = domain.quiet_until(now, settings.quiet_hours)
    for notice, template, text in rendered:
        held_until = None if template.urgent else quiet_end
        row = store.enqueue(
            event_id=event["event_id"], event_type=event_type, notice=notice, rendered=text,
            urgent=template.urgent, provider=settings.provider, not_before=held_until,
            held_reason="quiet_hours" if held_until else None,
        )
        if row is None:
            continue  # this event already queued it
        sms_metrics.counted(row["template"], "queued", row["segments"])
        if held_until:
            sms_metrics.HELD.labels("quiet_hours").inc()


# What each event after acceptance tells the applicant: event type -> notices(data, contact).
APPLICANT_NOTICES = {
    "materials_requested": domain.materials_notices,
    "review_completed": domain.review_notices,
    "bill_issued": domain.bill_issued_notices,
    "bill_paid": domain.bill_paid_notices,
    "bill_refunded": domain.bill_refunded_notices,
    "task_extended": domain.extension_notices,
    "bill_reduced": domain.bill_reduced_notices,
    "bill_waived": domain.bill_waived_notices,
    "bill_reminder": domain.bill_reminder_notices,
}

# What each supervision event tells the staff: event type -> notices(data).
STAFF_NOTICES = {
    "task_warning": domain.warning_notices,
    "task_overdue": domain.overdue_notices,
    "notice_escalated": domain.escalation_notices,
    "task_unstaffed": domain.unstaffed_notices,
    # complaints: the complainant hears every step, the department's supervisor the clock
    "complaint_received": domain.complaint_received_notices,
    "complaint_warning": domain.complaint_warning_notices,
    "complaint_overdue": domain.complaint_overdue_notices,
    "complaint_answered": domain.complaint_answered_notices,
}


# What each of the hall's events tells the person with the ticket,
# appointment or visit: event type -> notices(data).
HALL_NOTICES = {
    "ticket_taken": domain.ticket_taken_notices,
    "turn_near": domain.turn_near_notices,
    "ticket_called": domain.ticket_called_notices,
    "appointment_booked": domain.appointment_booked_notices,
    "appointment_reminder": domain.appointment_reminder_notices,
    "visit_scheduled": domain.visit_scheduled_notices,
}


def application_accepted(store, settings, event, data):
    contact = domain.contact_from_accepted(data)
    store.remember_contact(contact)
    queue(store, settings, event, "application_accepted",
          domain.acceptance_notices(data, contact, settings.portal_url))


# The events that carry the applicant upsert the contact and take it back
# in one statement; those that end the application mark it concluded in the
# same one: no read and no update beside the write.

def intake_materials_requested(store, settings, event, data):
    contact = store.remember_contact(domain.contact_from_applicant(data))
    queue(store, settings, event, "materials_requested", domain.materials_notices(data, contact))


def application_completed(store, settings, event, data):
    contact = known(store.remember_contact(domain.contact_from_applicant(data), concluded=True)
                    if data.get("applicant") else store.contact_concluded(data["application_no"]), data)
    queue(store, settings, event, "application_completed",
          domain.completion_notices(data, contact, settings.portal_url, settings.portal_secret))


def application_refused(store, settings, event, data):
    """不予受理: the refusal names its reasons and legal basis."""
    contact = store.remember_contact(domain.contact_from_applicant(data), concluded=True)
    queue(store, settings, event, "application_refused", domain.refusal_notices(data, contact))


def application_withdrawn(store, settings, event, data):
    """撤回: one SMS, whatever review and fees do about it."""
    contact = store.remember_contact(domain.contact_from_applicant(data), concluded=True)
    queue(store, settings, event, "application_withdrawn", domain.withdrawal_notices(data, contact))


def notify_applicant(store, settings, event, event_type, data):
    """An event after acceptance: find the accepted applicant's contact (or
    raise, to be retried), queue what APPLICANT_NOTICES says to send."""
    contact = contact_of(store, data, accepted=True)
    queue(store, settings, event, event_type, APPLICANT_NOTICES[event_type](data, contact))


def notify_staff(store, settings, event, event_type, data):
    queue(store, settings, event, event_type, STAFF_NOTICES[event_type](data))


def notify_visitor(store, settings, event, event_type, data):
    queue(store, settings, event, event_type, HALL_NOTICES[event_type](data))


def send_tracking_code(store, settings, event, data):
    queue(store, settings, event, "tracking_code_requested", domain.tracking_code_notices(data))
