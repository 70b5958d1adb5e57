"""Platform metrics that every service exports, and the dependency that
times every entrypoint and serves /metrics."""
import logging
import time

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

ENTRYPOINT_SECONDS = Histogram(
    "onewindow_entrypoint_seconds", "Duration of RPC calls, event handlers and timers",
    ["service", "entrypoint", "kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ENTRYPOINT_FAILURES = Counter(
    "onewindow_entrypoint_failures_total", "Entrypoints that raised, by error type",
    ["service", "entrypoint", "kind", "error"],
)
OUTBOX_BACKLOG = Gauge(
    "onewindow_outbox_backlog", "Events recorded but not yet confirmed by the broker", ["service"]
)
EVENTS_PUBLISHED = Counter(
    "onewindow_events_published_total", "Events confirmed by the broker", ["service", "event_type"]
)
PUBLISH_FAILURES = Counter(
    "onewindow_event_publish_failures_total", "Publish attempts the broker refused or that failed",
    ["service", "event_type", "reason"],
)
INBOX_DUPLICATES = Counter(
    "onewindow_inbox_duplicates_total", "Redelivered events skipped by the inbox", ["service", "consumer"]
)
INBOX_FAILURES = Counter(
    "onewindow_inbox_handler_failures_total", "Event handler attempts that failed and were scheduled for retry",
    ["service", "consumer"],
)
INBOX_BATCH_EVENTS = Histogram(
    "onewindow_inbox_batch_events", "Events a batched handler took in one transaction", ["service", "consumer"],
    buckets=(1, 2, 4, 8, 16, 32),
)
INBOX_BATCHES_SPLIT = Counter(
    "onewindow_inbox_batches_split_total", "Batches undone because a handler failed, then run one event at a time",
    ["service", "consumer"],
)
INBOX_PARKED = Gauge(
    "onewindow_inbox_parked", "Events parked after their last retry, awaiting an operator", ["service"]
)
INBOX_RETRYING = Gauge(
    "onewindow_inbox_retrying", "Events waiting for their next retry", ["service"]
)
INBOX_WAITING = Gauge(
    "onewindow_inbox_waiting", "Events kept until the event they build on arrives", ["service"]
)
TABLE_ROWS = Gauge(
    "onewindow_table_rows", "Live rows per table (PostgreSQL's estimate), for retention", ["service", "table"]
)
TABLE_BYTES = Gauge(
    "onewindow_table_bytes", "Bytes per table with its indexes and TOAST", ["service", "table"]
)
CALENDAR_YEAR_LOADED = Gauge(
    "onewindow_calendar_year_loaded",
    "1 when the State Council schedule of this year (the current one and the next) is known, else 0",
    ["service", "year"],
)


def entrypoint_kind(entrypoint):
    name = type(entrypoint).__name__.lower()
    if "rpc" in name:
        return "rpc"
    if "event" in name:
        return "event"
    if "timer" in name:
        return "timer"
    return name


class Metrics(DependencyProvider):
    """Times every worker; serves /metrics on METRICS_PORT when it is set."""

    _server_started = set()

    def setup(self):
        self.service_name = self.container.service_name
        self._started = {}

    def start(self):
        port = self.container.config.get("METRICS_PORT")
        if port and port not in Metrics._server_started:
            start_http_server(int(port), addr=self.container.config.get("METRICS_ADDR", "0.0.0.0"))
            Metrics._server_started.add(port)
            log.info("%s metrics on :%s/metrics", self.service_name, port)

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        entrypoint = worker_ctx.entrypoint
        kind = entrypoint_kind(entrypoint)
        if started is not None:
            ENTRYPOINT_SECONDS.labels(self.service_name, entrypoint.method_name, kind).observe(
                time.perf_counter() - started
            )
        if exc_info is not None:
            ENTRYPOINT_FAILURES.labels(
                self.service_name, entrypoint.method_name, kind, exc_info[0].__name__
            ).inc()

    def get_dependency(self, worker_ctx):
        return None
