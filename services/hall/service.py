"""hall service: nameko entrypoints only; the use cases are in cases.py, the
big screen and the remote-ticket form in screen.py.

Queue tickets (排队取号), remote tickets (远程取号), appointments (预约),
home and agent service (上门服务, 代办), window calling, and the big
screen at /hall.
"""

from onewindow.calls import call_within
from onewindow.config import Setting, non_negative_float
from onewindow.db import Database
from onewindow.entrypoints import ServiceRpcProxy, http, rpc, timer
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, OPERATOR, PORTAL, READERS, SERVICE, SUPERVISOR, WINDOW
from onewindow.validation import load
from onewindow.workdays import CalendarCache

from . import cases, schemas, screen
from .settings import HallLayout
from .store import HallStore

GAUGE_SECONDS = Setting("HALL_GAUGE_SECONDS", "5", non_negative_float)
SWEEP_SECONDS = Setting("HALL_SWEEP_SECONDS", "60", non_negative_float)
LIGHTS_SECONDS = Setting("HALL_LIGHTS_SECONDS", "15", non_negative_float)


class HallService:
    name = "hall"
    store = Database(HallStore)
    metrics = Metrics()
    hall = HallLayout()
    review = ServiceRpcProxy("review")
    calendar = CalendarCache()

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ------------------------------------------------------------ tickets

    @rpc(roles=(WINDOW, PORTAL, *READERS))
    def queues(self):
        return cases.queues(self.store, self.hall.layout, cases.now())

    @rpc(roles=(WINDOW, *READERS))
    def windows(self):
        return cases.windows(self.store, self.hall.layout, cases.now())

    @rpc(roles=(WINDOW, PORTAL))
    def take_ticket(self, queue_code, channel, client_ref, phone=None, appointment_no=None, green_channel=None):
        return cases.take_ticket(self.store, self.hall.layout, self.calendar(), {
            "queue_code": queue_code, "channel": channel, "client_ref": client_ref, "phone": phone,
            "appointment_no": appointment_no, "green_channel": green_channel}, cases.now(), self.caller)

    @rpc(roles=(WINDOW, PORTAL, *READERS))
    def ticket(self, ticket_no, day=None):
        query = load(schemas.TicketQuery, {"ticket_no": ticket_no, "day": day})
        return cases.ticket(self.store, self.hall.layout, query, cases.now())

    @rpc(roles=(WINDOW,))
    def check_in(self, ticket_no, client_ref):
        query = load(schemas.CheckIn, {"ticket_no": ticket_no, "client_ref": client_ref})
        return cases.check_in(self.store, self.hall.layout, query, cases.now(), self.caller)

    @rpc(roles=(WINDOW,))
    def call_next(self, window_code, client_ref):
        query = load(schemas.CallNext, {"window_code": window_code, "client_ref": client_ref})
        return cases.call_next(self.store, self.hall.layout, query, cases.now(), self.caller)

    @rpc(roles=(WINDOW,))
    def recall(self, ticket_no, window_code, client_ref):
        query = load(schemas.AtWindow, {"ticket_no": ticket_no, "window_code": window_code, "client_ref": client_ref})
        return cases.recall(self.store, self.hall.layout, query, cases.now(), self.caller)

    @rpc(roles=(WINDOW,))
    def finish(self, ticket_no, outcome, client_ref, application_no=None):
        query = load(schemas.Finish, {"ticket_no": ticket_no, "outcome": outcome, "client_ref": client_ref,
                                      "application_no": application_no})
        return cases.finish(self.store, self.hall.layout, query, cases.now(), self.caller)

    @rpc(roles=(WINDOW,))
    def transfer(self, ticket_no, queue_code, client_ref):
        query = load(schemas.Transfer, {"ticket_no": ticket_no, "queue_code": queue_code, "client_ref": client_ref})
        return cases.transfer(self.store, self.hall.layout, query, cases.now(), self.caller)

    # ------------------------------------------------------------ appointments

    @rpc(roles=(WINDOW, PORTAL, *READERS))
    def slots(self, item_code, date):
        query = load(schemas.SlotsQuery, {"item_code": item_code, "date": date})
        return cases.slots(self.store, self.hall.layout, self.calendar(), query, cases.now())

    @rpc(roles=(WINDOW, PORTAL))
    def book(self, item_code, date, slot, phone, client_ref):
        return cases.book(self.store, self.hall.layout, self.calendar(), item_code, date, slot, phone, client_ref,
                          cases.now())

    @rpc(roles=(WINDOW, PORTAL))
    def cancel_booking(self, appointment_no, client_ref):
        query = load(schemas.AppointmentRef, {"appointment_no": appointment_no, "client_ref": client_ref})
        return cases.cancel_booking(self.store, self.hall.layout, query, cases.now())

    @rpc(roles=(WINDOW, PORTAL, *READERS))
    def appointment(self, appointment_no):
        query = load(schemas.AppointmentQuery, {"appointment_no": appointment_no})
        return cases.appointment(self.store, query)

    @rpc(roles=(SUPERVISOR, OPERATOR))
    def sweep(self, as_of=None):
        """Send the reminders due and count missed appointments (also on a timer)."""
        query = load(schemas.Sweep, {"as_of": as_of})
        return cases.sweep(self.store, self.hall.layout, query["as_of"], cases.now())

    @timer(interval=SWEEP_SECONDS())
    def sweep_on_timer(self):
        cases.sweep(self.store, self.hall.layout, None, cases.now())

    # ------------------------------------------------------------ visits

    @rpc(roles=(WINDOW, PORTAL))
    def request_visit(self, kind, item_code, phone, address, preferred_date, client_ref):
        return cases.request_visit(self.store, self.hall.layout, self.calendar(), kind, item_code, phone, address,
                                   preferred_date, client_ref, cases.now(), self.caller)

    @rpc(roles=(WINDOW, SUPERVISOR))
    def assign_visit(self, visit_no, staff, client_ref, scheduled_date=None):
        query = load(schemas.AssignVisit, {"visit_no": visit_no, "staff": staff, "client_ref": client_ref,
                                           "scheduled_date": scheduled_date})
        return cases.assign_visit(self.store, self.hall.layout, self.calendar(), query, cases.now(), self.caller)

    @rpc(roles=(WINDOW,))
    def complete_visit(self, visit_no, client_ref, application_no=None):
        query = load(schemas.CompleteVisit, {"visit_no": visit_no, "client_ref": client_ref,
                                             "application_no": application_no})
        return cases.complete_visit(self.store, self.hall.layout, query, cases.now(), self.caller)

    @rpc(roles=(WINDOW, *READERS))
    def visits(self, status=None):
        query = load(schemas.VisitsQuery, {"status": status})
        return cases.visits(self.store, query)

    # ------------------------------------------------------------ figures

    @rpc(roles=(SERVICE, *READERS))
    def report(self, start, end):
        query = load(schemas.Period, {"start": start, "end": end})
        return cases.report(self.store, query)

    @timer(interval=GAUGE_SECONDS())
    def refresh_gauges(self):
        cases.refresh_gauges(self.store, self.hall.layout, cases.now())

    @timer(interval=LIGHTS_SECONDS())
    def refresh_lights(self):
        """Each department's warned and overdue tasks, from review."""
        def open_tasks(department):
            return call_within(self.review.tasks, 5, (department, "open"))
        self.hall.lights.refresh(open_tasks)

    # ------------------------------------------------------------ the big screen

    @http("GET", "/hall")
    def screen_page(self, request):
        return screen.page(cases.board(self.store, self.hall.layout, self.hall.lights.current(), cases.now()))

    @http("GET", "/hall/board.json")
    def screen_board(self, request):
        return screen.board_json(cases.board(self.store, self.hall.layout, self.hall.lights.current(),
                                                     cases.now()))

    @http("GET", "/hall/static/<string:name>")
    def screen_static(self, request, name):
        return screen.static(name)

    @http("GET", "/hall/ticket")
    def ticket_form(self, request):
        return screen.ticket_form(self.hall.layout)

    @http("POST", "/hall/ticket")
    def ticket_form_taken(self, request):
        return screen.take_remote_ticket(request, lambda args: cases.take_ticket_online(
            self.store, self.hall.layout, self.calendar(), args, cases.now()), self.hall.layout)

