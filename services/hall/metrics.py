"""hall's own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge, Histogram

TICKETS = Counter("onewindow_hall_tickets_total", "Tickets taken, by queue and channel", ["queue", "channel"])
WAITING = Gauge("onewindow_hall_waiting", "Tickets waiting to be called, by queue", ["queue"])
LONGEST_WAIT = Gauge(
    "onewindow_hall_longest_wait_seconds", "How long the oldest waiting ticket of a queue has waited (0 when none)",
    ["queue"],
)
WAIT_SECONDS = Histogram(
    "onewindow_hall_wait_seconds", "From taking a ticket to its first call, by queue", ["queue"],
    buckets=(60, 300, 600, 900, 1200, 1800, 2700, 3600, 5400, 7200),
)
SERVICE_SECONDS = Histogram(
    "onewindow_hall_service_seconds", "From the call to the end of service at the window, by queue", ["queue"],
    buckets=(60, 180, 300, 600, 900, 1200, 1800, 3600),
)
SERVED = Counter("onewindow_hall_served_total", "Tickets served, by window", ["window"])
NO_SHOWS = Counter("onewindow_hall_no_shows_total", "Tickets finished as no-show, by queue", ["queue"])
EXPIRED = Counter("onewindow_hall_expired_total", "Remote tickets that lapsed (called twice, never checked in)",
                  ["queue"])
APPOINTMENTS = Counter(
    "onewindow_hall_appointments_total", "Appointments by what happened: booked, cancelled, checked_in, missed",
    ["event"],
)
VISITS = Counter("onewindow_hall_visits_total", "Home and agent visits by kind and what happened", ["kind", "event"])
CALL_SECONDS = Histogram(
    "onewindow_hall_call_next_seconds", "Time to pick and lock a window's next ticket in the database",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)


def queue_figures(queues, figures, now):
    """Set the per-queue gauges from the database's figures of today."""
    for code in queues:
        row = figures.get(code) or {}
        WAITING.labels(code).set(row.get("waiting") or 0)
        oldest = row.get("oldest_taken_at")
        LONGEST_WAIT.labels(code).set(max(0.0, (now - oldest).total_seconds()) if oldest else 0)
