"""intake's own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge

RECEIVED = Counter("onewindow_intake_applications_received_total",
                   "Applications received at the window, online or on mobile", ["item", "channel"])
ACCEPTED = Counter("onewindow_intake_applications_accepted_total",
                   "Applications accepted (受理), by item and kind", ["item", "kind"])
CONCLUDED = Counter("onewindow_intake_applications_concluded_total",
                    "Cases concluded (办结), approved or rejected", ["item", "outcome"])
MATERIALS_REQUESTED = Counter("onewindow_intake_materials_requested_total",
                              "Cases sent back for materials, at the window or by review", ["item", "stage"])
THIRD_VISITS = Counter("onewindow_intake_third_visits_total",
                       "Cases whose applicant had to come a third time", ["item"])
INSTANT_RATIO = Gauge("onewindow_intake_instant_ratio", "Instant items among all accepted cases (0..1)")
COMPLETION_RATE = Gauge("onewindow_intake_completion_rate", "Concluded among all accepted cases (0..1)")
RATINGS = Counter("onewindow_intake_ratings_total", "Satisfaction ratings by score", ["score"])
OVERDUE_CASES = Gauge("onewindow_intake_overdue_cases",
                      "Open cases the centre is late on: past the due date while the clock was the centre's")
REFUSED = Counter("onewindow_intake_refused_total", "Applications refused at the window (不予受理)", ["channel"])
WITHDRAWN = Counter("onewindow_intake_withdrawn_total", "Cases withdrawn by the applicant (撤回)", ["item"])
INQUIRIES = Counter("onewindow_intake_inquiries_total", "Consultations logged by whoever answered first (首问)",
                    ["window", "channel"])
COMPLAINTS = Counter("onewindow_intake_complaints_total", "Complaints received (投诉), by department concerned",
                     ["department"])
COMPLAINTS_OVERDUE = Counter("onewindow_intake_complaints_overdue_total",
                             "Complaints left unanswered past their due date (督办)", ["department"])


def set_gauges(figures, overdue):
    accepted = figures["accepted"] or 0
    INSTANT_RATIO.set(figures["instant"] / accepted if accepted else 0)
    COMPLETION_RATE.set(figures["concluded"] / accepted if accepted else 0)
    OVERDUE_CASES.set(overdue)
