"""What the gateway's entrypoints are given besides the database: the
contract it offers (routes and OpenAPI document, generated from the
services' code at start) and the webhook delivery loop."""
import logging

import eventlet
import requests
from nameko.extensions import DependencyProvider

from onewindow import apidocs, config
from onewindow.db import Database

from . import cases
from . import metrics as gateway_metrics
from .store import GatewayStore

log = logging.getLogger(__name__)


def offered(service, method):
    """Every RPC method of the other services; the gateway's own calls are
    the operator's, over RPC only."""
    return service != "gateway"


class Contract(DependencyProvider):
    """`self.contract.routes`: {(service, method)}; `.document`: the OpenAPI bytes."""

    def setup(self):
        from services.registry import CENTRE  # the composition root lists the gateway too: imported late
        document = apidocs.openapi(CENTRE.classes, only=offered)
        prefix = apidocs.API_PREFIX + "/"
        self.routes = frozenset(tuple(path[len(prefix):].split("/", 1)) for path in document["paths"])
        self.document = apidocs.render(document).encode("utf-8")

    def get_dependency(self, worker_ctx):
        return self


def post(url, body, headers, timeout):
    return requests.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False).status_code


class WebhookSender(DependencyProvider):
    """Runs the WebhookDeliverer every GATEWAY_WEBHOOK_POLL_SECONDS."""

    def setup(self):
        self._running = False
        self.deliverer = None

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier="gateway.webhooks")

    def stop(self):
        self._running = False

    kill = stop

    def _database(self):
        return next(d for d in self.container.dependencies if isinstance(d, Database))

    def _loop(self):
        database = self._database()
        failures, passes = 0, 0
        while self._running:
            eventlet.sleep(config.webhook_poll_seconds() if failures == 0 else min(30, 2 ** failures))
            if not self._running or database.pool is None:
                continue
            if self.deliverer is None:
                self.deliverer = cases.WebhookDeliverer(
                    database.unit_of_work, GatewayStore, post, config.webhook_max_attempts(),
                    config.webhook_retry_seconds(), config.webhook_timeout_seconds())
            try:
                while self._running and self.deliverer.run_once() >= self.deliverer.batch:
                    pass
                failures, passes = 0, passes + 1
                if passes % 25 == 1:
                    self.deliverer.count_backlog()
            except Exception:
                failures += 1
                log.exception("webhook pass failed")

    def get_dependency(self, worker_ctx):
        return self.deliverer
