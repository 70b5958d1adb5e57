"""intake service: nameko entrypoints only."""
import logging

from nameko.exceptions import UnknownService

from onewindow.calls import CallTimeout, call_within
from onewindow.config import Setting, non_negative_float
from onewindow.db import Database
from onewindow.entrypoints import ServiceRpcProxy, event_handler, rpc, timer
from onewindow.errors import NotFound
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, OPERATOR, PORTAL, READERS, SUPERVISOR, WINDOW
from onewindow.validation import load
from onewindow.workdays import CalendarCache

from . import cases, schemas
from . import metrics as intake_metrics
from .store import IntakeStore

log = logging.getLogger(__name__)

# A stopped hall keeps its queue, and a call into it would wait forever and
# hold one of intake's workers; the report goes on without the hall instead.
HALL_REPORT_TIMEOUT_SECONDS = Setting("INTAKE_HALL_REPORT_TIMEOUT_SECONDS", "5", non_negative_float)
COMPLAINT_SUPERVISION_SECONDS = Setting("INTAKE_COMPLAINT_SUPERVISION_SECONDS", "300", non_negative_float)


class IntakeService:
    name = "intake"
    store = Database(IntakeStore)
    metrics = Metrics()
    calendar = CalendarCache()
    hall = ServiceRpcProxy("hall")

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ---------------------------------------------------------------- catalog

    @rpc(roles=ANYONE)
    def list_items(self):
        return self.store.current_catalog().listing()

    @rpc(roles=ANYONE)
    def form_for(self, item_code):
        catalog = self.store.current_catalog()
        item = catalog.item(item_code) if isinstance(item_code, str) else None
        if item is None:
            raise NotFound(f"no item {item_code}")
        return {"item_code": item["code"], "item_name": item["name"], "catalog_version": catalog.label,
                "declared_fields": catalog.declared_count(item), "fields": catalog.form(item)}

    @rpc(roles=ANYONE)
    def due_date(self, item_code, accepted_on):
        data = load(schemas.DueDateQuery, {"item_code": item_code, "accepted_on": accepted_on})
        return cases.due_date(self.store, self.calendar(), data)

    @rpc(roles=(OPERATOR,))
    def recompute_provisional(self):
        self.calendar.invalidate()
        return cases.recompute_provisional(self.store, self.calendar())

    # ---------------------------------------------------------------- the window

    def window(self):
        """The window a call comes from: its window principal (选优评差 per
        window); None online."""
        return self.caller.name if self.caller.role == WINDOW else None

    @rpc(roles=(WINDOW, PORTAL))
    def submit(self, application):
        return cases.submit(self.store, self.calendar(), application, window=self.window(),
                            by=self.caller.label())

    @rpc(roles=(WINDOW, PORTAL))
    def supplement(self, application_no, materials, client_ref):
        data = load(schemas.SupplementSchema, {"application_no": application_no, "materials": materials,
                                               "client_ref": client_ref})
        return cases.supplement(self.store, self.calendar(), data, by=self.caller.label())

    @rpc(roles=(WINDOW, *READERS))
    def get(self, application_no):
        return cases.record(self.store, application_no)

    @rpc(roles=(PORTAL,))
    def track(self, application_no, phone):
        data = load(schemas.TrackQuery, {"application_no": application_no, "phone": phone})
        return cases.track(self.store, data)

    @rpc(roles=(PORTAL,))
    def rate(self, application_no, score, comment=None):
        data = load(schemas.Rating, {"application_no": application_no, "score": score, "comment": comment})
        return cases.rate(self.store, data, by=self.caller.label())

    @rpc(roles=READERS)
    def report(self, start, end):
        period = load(schemas.Period, {"start": start, "end": end})
        return cases.report(self.store, period, hall=self.hall_figures)

    def hall_figures(self, start, end):
        """The hall's figures of the period, or None where no hall service
        runs (nothing is queued or booked through OneWindow there)."""
        try:
            return call_within(self.hall.report, HALL_REPORT_TIMEOUT_SECONDS(), (start.isoformat(), end.isoformat()))
        except UnknownService:
            return None
        except CallTimeout:
            log.warning("the hall did not answer within %ss; report without its figures",
                        HALL_REPORT_TIMEOUT_SECONDS())
            return None

    # ---------------------------------------------------------------- the front office

    @rpc(roles=(WINDOW,))
    def refuse(self, application, reasons, legal_basis):
        data = load(schemas.Refusal, {"application": application, "reasons": reasons, "legal_basis": legal_basis})
        return cases.refuse(self.store, data, window=self.window(), by=self.caller.label())

    @rpc(roles=(WINDOW,))
    def withdraw(self, application_no, reason, client_ref):
        data = load(schemas.Withdrawal, {"application_no": application_no, "reason": reason, "client_ref": client_ref})
        return cases.withdraw(self.store, data, by=self.caller.label())

    @rpc(roles=(WINDOW,))
    def register_inquiry(self, channel, topic, answered_by, item_code=None, phone=None, referred_to=None,
                         client_ref=None):
        data = load(schemas.Inquiry, {"channel": channel, "topic": topic, "answered_by": answered_by,
                                      "item_code": item_code, "phone": phone, "referred_to": referred_to,
                                      "client_ref": client_ref})
        return cases.register_inquiry(self.store, data, window=self.window())

    @rpc(roles=(WINDOW, PORTAL))
    def complain(self, text, phone, application_no=None, department=None, client_ref=None):
        data = load(schemas.Complaint, {"text": text, "phone": phone, "application_no": application_no,
                                        "department": department, "client_ref": client_ref})
        return cases.complain(self.store, self.calendar(), data, by=self.caller.label())

    @rpc(roles=(WINDOW, *READERS))
    def complaints(self, status=None):
        query = load(schemas.ComplaintQuery, {"status": status})
        return cases.complaints(self.store, query)

    @rpc(roles=(WINDOW, SUPERVISOR))
    def answer_complaint(self, complaint_no, answer, client_ref):
        data = load(schemas.ComplaintAnswer, {"complaint_no": complaint_no, "answer": answer, "client_ref": client_ref})
        return cases.answer_complaint(self.store, data, by=self.caller.label())

    @rpc(roles=(SUPERVISOR,))
    def supervise_complaints(self, as_of=None, dry_run=False):
        query = load(schemas.SupervisionQuery, {"as_of": as_of})
        return cases.supervise_complaints(self.store, self.calendar(), query["as_of"], dry_run)

    @timer(interval=COMPLAINT_SUPERVISION_SECONDS())
    def supervise_complaints_on_timer(self):
        cases.supervise_complaints(self.store, self.calendar())

    @rpc(roles=(WINDOW, PORTAL, *READERS))
    def publicity(self, start, end):
        period = load(schemas.Period, {"start": start, "end": end})
        return cases.publicity(self.store, period)

    @rpc(roles=(WINDOW, *READERS))
    def ranking(self, start, end, by):
        query = load(schemas.RankingQuery, {"start": start, "end": end, "by": by})
        return cases.ranking(self.store, self.calendar(), query)

    # ---------------------------------------------------------------- events in
    # Review's and fees' events lock their case and write only rows of it
    # (no counter): the events waiting in a queue are handled together, in
    # one transaction, in the order of their cases (`lock_order`).

    @event_handler("review", *cases.REVIEW_EFFECTS, batched=True, lock_order="application_no")
    def on_review_event(self, event, event_type):
        cases.on_review_event(self.store, event_type, event)

    @event_handler("fees", *cases.FEES_EFFECTS, batched=True, lock_order="application_no")
    def on_fees_event(self, event, event_type):
        cases.on_fees_event(self.store, event_type, event)

    # a notice is upserted by message_id, the later status winning: an
    # event applied twice changes nothing, so it needs no inbox row
    @event_handler("notify", "message_statuses", repeatable=True, batched=True)
    def on_message_statuses(self, event):
        cases.on_message_statuses(self.store, event)

    # One message_status a text was what notify sent before message_statuses:
    # heard still, so that an upgrade loses none left in this queue.
    @event_handler("notify", "message_status", repeatable=True, batched=True)
    def on_message_status(self, event):
        cases.on_message_statuses(self.store, {"messages": [event], "occurred_at": event.get("occurred_at")})

    # ---------------------------------------------------------------- gauges

    @timer(interval=30)
    def refresh_gauges(self):
        intake_metrics.set_gauges(self.store.gauges(), cases.open_overdue(self.store))
