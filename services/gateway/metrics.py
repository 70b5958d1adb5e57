"""The gateway's metrics (the platform times every entrypoint as well)."""
from prometheus_client import Counter, Gauge, Histogram

CALL_SECONDS = Histogram(
    "onewindow_gateway_call_seconds", "HTTP calls through the gateway, by method and answer status",
    ["service", "method", "status"],
    buckets=(0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_OWED = Counter("onewindow_gateway_webhook_owed_total", "Events owed to a department's webhook",
                       ["event_type"])
WEBHOOK_DELIVERIES = Counter("onewindow_gateway_webhook_attempts_total",
                             "Webhook delivery attempts by outcome (delivered, retry, dead)", ["outcome"])
WEBHOOK_BACKLOG = Gauge("onewindow_gateway_webhook_backlog", "Webhook deliveries by state (pending, dead)",
                        ["state"])
