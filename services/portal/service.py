"""portal service: nameko entrypoints only. The applicants' web (网上办事大厅):
the item guide, the online application with the one form, tracking with a
code sent by SMS, rating from the SMS link, complaints, the publicity list,
appointments and remote tickets. It calls intake and the hall over RPC as
the principal of role `portal` (its own broker user holds that role); the
pages are rendered on the server (web.py, templates/)."""
from onewindow.calls import ServiceCaller
from onewindow.db import Database
from onewindow.entrypoints import http, rpc
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE
from onewindow.workdays import today

from . import cases
from .store import PortalStore
from .web import Web


class PortalService:
    name = "portal"
    store = Database(PortalStore)
    metrics = Metrics()
    services = ServiceCaller()
    web = Web()

    def page(self, request, case, *args, **kwargs):
        return self.web.serve(request, self.store, self.services, case, *args, **kwargs)

    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    # ------------------------------------------------------------ 办事指南
    @http("GET", "/")
    def home(self, request):
        return self.page(request, cases.home)

    @http("GET", "/guide")
    def guide(self, request):
        return self.page(request, cases.guide, request.args.get("q", ""))

    @http("GET", "/guide/<string:item_code>")
    def guide_item(self, request, item_code):
        return self.page(request, cases.guide_item, item_code, today())

    # ------------------------------------------------------------ 网上申报
    @http("GET", "/apply/<string:item_code>")
    def application_form(self, request, item_code):
        return self.page(request, cases.application_form, item_code)

    @http("POST", "/apply/<string:item_code>")
    def apply(self, request, item_code):
        return self.page(request, cases.apply, item_code)

    # ------------------------------------------------------------ 办件查询
    @http("GET", "/track")
    def track_form(self, request):
        return self.page(request, cases.track_form)

    @http("POST", "/track")
    def request_code(self, request):
        return self.page(request, cases.request_code)

    @http("GET", "/track/code")
    def code_form(self, request):
        return self.page(request, cases.code_form)

    @http("POST", "/track/code")
    def check_code(self, request):
        return self.page(request, cases.check_code)

    @http("GET", "/track/case")
    def tracked_case(self, request):
        return self.page(request, cases.tracked_case)

    @http("POST", "/track/supplement")
    def supplement(self, request):
        return self.page(request, cases.supplement)

    # ------------------------------------------------------------ 大厅实况
    @http("GET", "/hall")
    def hall_board(self, request):
        return self.page(request, cases.hall_board)

    # ------------------------------------------------------------ 服务评价 (the SMS link)
    @http("GET", "/rate/<string:application_no>/<string:token>")
    def rating_form(self, request, application_no, token):
        return self.page(request, cases.rating_form, application_no, token)

    @http("POST", "/rate/<string:application_no>/<string:token>")
    def rate(self, request, application_no, token):
        return self.page(request, cases.rate, application_no, token)

    # ------------------------------------------------------------ 投诉, 办件公示
    @http("GET", "/complain")
    def complaint_form(self, request):
        return self.page(request, cases.complaint_form)

    @http("POST", "/complain")
    def complain(self, request):
        return self.page(request, cases.complain)

    @http("GET", "/publicity")
    def publicity(self, request):
        return self.page(request, cases.publicity, request.args.get("month", ""), today())

    # ------------------------------------------------------------ 远程取号, 预约
    @http("GET", "/ticket")
    def ticket_form(self, request):
        return self.page(request, cases.ticket_form)

    @http("POST", "/ticket")
    def take_ticket(self, request):
        return self.page(request, cases.take_ticket)

    @http("GET", "/ticket/<string:ticket_no>")
    def ticket(self, request, ticket_no):
        return self.page(request, cases.ticket, ticket_no)

    @http("GET", "/book")
    def booking_form(self, request):
        return self.page(request, cases.booking_form, request.args.get("item", ""), request.args.get("date", ""),
                         today())

    @http("POST", "/book")
    def book(self, request):
        return self.page(request, cases.book, today())

    # ------------------------------------------------------------ files and health
    @http("GET", "/static/<string:name>")
    def static(self, request, name):
        return self.web.static(name)

    @http("GET", "/health")
    def http_health(self, request):
        self.store.one("SELECT 1")
        return 200, "ok"
