"""intake service: nameko entrypoints only."""
from onewindow.db import Database
from onewindow.entrypoints import event_handler, rpc, timer
from onewindow.errors import NotFound
from onewindow.metrics import Metrics
from onewindow.workdays import CalendarCache

from . import cases
from . import metrics as intake_metrics
from .store import IntakeStore

REVIEW_EVENTS = ("task_decided", "veto_filed", "review_completed", "materials_requested",
                 "task_warning", "task_overdue", "task_deemed_approved")


class IntakeService:
    name = "intake"
    db = Database(dao=IntakeStore)
    metrics = Metrics()
    calendar_cache = CalendarCache()

    def calendar(self):
        return self.calendar_cache.get(self.db.unit)

    @rpc
    def health(self):
        self.db.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ---------------------------------------------------------------- catalog

    @rpc
    def list_items(self):
        return self.db.current_catalog().listing()

    @rpc
    def form_for(self, item_code):
        catalog = self.db.current_catalog()
        item = catalog.item(item_code) if isinstance(item_code, str) else None
        if item is None:
            raise NotFound(f"no item {item_code}")
        return {"item_code": item["code"], "item_name": item["name"], "catalog_version": catalog.label,
                "declared_fields": catalog.declared_count(item), "fields": catalog.form(item)}

    @rpc
    def due_date(self, item_code, accepted_on):
        return cases.due_date(self.db, self.calendar(), item_code, accepted_on)

    @rpc
    def recompute_provisional(self):
        self.calendar_cache.invalidate()
        return cases.recompute_provisional(self.db, self.calendar())

    # ---------------------------------------------------------------- the window

    @rpc
    def submit(self, application):
        return cases.submit(self.db, self.calendar(), application)

    @rpc
    def supplement(self, application_no, materials, client_ref):
        return cases.supplement(self.db, self.calendar(), application_no, materials, client_ref)

    @rpc
    def get(self, application_no):
        return cases.record(self.db, application_no)

    @rpc
    def track(self, application_no, phone):
        return cases.track(self.db, application_no, phone)

    @rpc
    def rate(self, application_no, score, comment=None):
        return cases.rate(self.db, application_no, score, comment)

    @rpc
    def report(self, start, end):
        return cases.report(self.db, start, end)

    # ---------------------------------------------------------------- events in

    @event_handler("review", "task_decided")
    def on_task_decided(self, event):
        cases.on_review_event(self.db, "task_decided", event)

    @event_handler("review", "veto_filed")
    def on_veto_filed(self, event):
        cases.on_review_event(self.db, "veto_filed", event)

    @event_handler("review", "review_completed")
    def on_review_completed(self, event):
        cases.on_review_event(self.db, "review_completed", event)

    @event_handler("review", "materials_requested")
    def on_review_materials_requested(self, event):
        cases.on_review_event(self.db, "materials_requested", event)

    @event_handler("review", "task_warning")
    def on_task_warning(self, event):
        cases.on_review_event(self.db, "task_warning", event)

    @event_handler("review", "task_overdue")
    def on_task_overdue(self, event):
        cases.on_review_event(self.db, "task_overdue", event)

    @event_handler("review", "task_deemed_approved")
    def on_task_deemed_approved(self, event):
        cases.on_review_event(self.db, "task_deemed_approved", event)

    @event_handler("fees", "bill_issued")
    def on_bill_issued(self, event):
        cases.on_fees_event(self.db, "bill_issued", event)

    @event_handler("fees", "bill_paid")
    def on_bill_paid(self, event):
        cases.on_fees_event(self.db, "bill_paid", event)

    @event_handler("fees", "bill_refunded")
    def on_bill_refunded(self, event):
        cases.on_fees_event(self.db, "bill_refunded", event)

    @event_handler("fees", "bill_waived")
    def on_bill_waived(self, event):
        cases.on_fees_event(self.db, "bill_waived", event)

    @event_handler("notify", "message_status")
    def on_message_status(self, event):
        cases.on_message_status(self.db, event)

    # ---------------------------------------------------------------- gauges

    @timer(interval=30)
    def refresh_gauges(self):
        intake_metrics.set_gauges(self.db.gauges(cases.today()))
