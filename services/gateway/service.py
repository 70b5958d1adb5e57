"""gateway service: nameko entrypoints only. Department systems that do not
speak AMQP call every contract method over HTTP with a bearer token; the
gateway calls the service over RPC as itself, naming the principal it acts
for; it also delivers review's task events to departments' webhooks."""
import json

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from onewindow import config
from onewindow.calls import ServiceCaller
from onewindow.db import Database
from onewindow.entrypoints import event_handler, http, rpc
from onewindow.metrics import Metrics
from onewindow.principals import ANYONE, OPERATOR
from onewindow.validation import load

from . import cases, domain, schemas
from .dependencies import Contract, WebhookSender
from .store import GatewayStore


def answer(status, body, request_id):
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json",
                    headers={"X-Request-Id": request_id})


class GatewayService:
    name = "gateway"
    store = Database(GatewayStore)
    metrics = Metrics()
    services = ServiceCaller()
    contract = Contract()
    webhook_sender = WebhookSender()

    # ------------------------------------------------------------ HTTP
    @http("POST", "/api/v1/<string:service>/<string:method>")
    def call(self, request, service, method):
        request_id = domain.request_id(request.headers.get("X-Request-Id"))
        limit = config.gateway_max_body_bytes()
        request.max_content_length = limit
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return answer(413, domain.gateway_error("too_large", "too_large", f"the body is over {limit} bytes"),
                          request_id)
        principal = cases.authenticate(self.store, request.headers.get("Authorization"))
        self.store.unit.commit()  # hand the connection back before waiting on the service
        result = cases.call(self.services, self.contract.routes, principal, service, method, body,
                            config.gateway_timeout_seconds())
        return answer(result.status, result.body, request_id)

    @http("POST", "/sms/receipts/<string:provider>")
    def sms_receipts(self, request, provider):
        """Delivery receipts pushed by Alibaba Cloud SMS or Tencent Cloud SMS."""
        request.max_content_length = config.gateway_max_body_bytes()
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            body = None
        status, reply = cases.sms_receipts(self.services, provider, request.args.get("token"), body,
                                           config.gateway_timeout_seconds())
        return answer(status, reply, domain.request_id(request.headers.get("X-Request-Id")))

    @http("GET", "/api/v1/openapi.json")
    def openapi(self, request):
        return Response(self.contract.document, mimetype="application/json")

    @http("GET", "/health")
    def http_health(self, request):
        self.store.one("SELECT 1")
        return answer(200, {"ok": True, "service": self.name}, domain.request_id(None))

    # ------------------------------------------------------------ the operator's calls
    @rpc(roles=ANYONE)
    def health(self):
        self.store.one("SELECT 1")
        return {"ok": True, "service": self.name}

    @rpc(roles=(OPERATOR,))
    def issue_token(self, principal):
        args = load(schemas.Principal, {"principal": principal})
        return cases.issue_token(self.store, args["principal"])

    @rpc(roles=(OPERATOR,))
    def revoke_tokens(self, principal):
        args = load(schemas.Principal, {"principal": principal})
        return cases.revoke_tokens(self.store, args["principal"])

    @rpc(roles=(OPERATOR,))
    def tokens(self):
        return self.store.tokens()

    @rpc(roles=(OPERATOR,))
    def set_webhook(self, department, url, secret=None):
        args = load(schemas.Webhook, {"department": department, "url": url, "secret": secret})
        return cases.set_webhook(self.store, args)

    @rpc(roles=(OPERATOR,))
    def remove_webhook(self, department):
        args = load(schemas.Department, {"department": department})
        return {"department": args["department"], "removed": self.store.remove_webhook(args["department"])}

    @rpc(roles=(OPERATOR,))
    def webhooks(self):
        return self.store.webhooks()

    @rpc(roles=(OPERATOR,))
    def deliveries(self, department=None, status=None):
        args = load(schemas.Deliveries, {"department": department, "status": status})
        return self.store.deliveries(args["department"], args["status"])

    @rpc(roles=(OPERATOR,))
    def redeliver(self, department, delivery_id=None):
        args = load(schemas.Redeliver, {"department": department, "delivery_id": delivery_id})
        return {"redelivered": self.store.redeliver(args["department"], args["delivery_id"])}

    # ------------------------------------------------------------ review's events, for webhooks
    # A delivery is owed once per (department, event): a second run of one
    # event changes nothing, so a success keeps no inbox row, and a
    # department without a webhook costs its event one read.
    @event_handler("review", *domain.WEBHOOK_EVENTS, repeatable=True)
    def on_task_event(self, event, event_type):
        cases.owe_webhooks(self.store, event_type, event)
