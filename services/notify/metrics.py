"""notify's own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "onewindow_notify_messages_total", "SMS messages entering each status", ["template", "status"]
)
SEGMENTS = Counter(
    "onewindow_notify_segments_total", "SMS segments (what is billed) entering each status",
    ["template", "status"],
)
PROVIDER_SECONDS = Histogram(
    "onewindow_notify_provider_seconds", "Time a provider took to accept or refuse a message", ["provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROVIDER_FAILURES = Counter(
    "onewindow_notify_provider_failures_total", "Sends a provider refused or that failed", ["provider", "reason"]
)
RETRIES = Counter(
    "onewindow_notify_retries_total", "Sends scheduled again after a failure", ["provider"]
)
QUEUED_BACKLOG = Gauge(
    "onewindow_notify_queued_backlog", "Messages queued or being sent, held ones included"
)
OLDEST_WAITING = Gauge(
    "onewindow_notify_oldest_waiting_seconds",
    "Age of the oldest message free to go but still queued, or still sending (0 when none)", ["status"]
)
HELD = Counter(
    "onewindow_notify_held_total", "Messages held back", ["reason"]
)


def counted(template, status, segments):
    MESSAGES.labels(template, status).inc()
    SEGMENTS.labels(template, status).inc(segments)
