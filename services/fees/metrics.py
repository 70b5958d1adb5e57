"""fees' own Prometheus instruments (names in docs/metrics.md)."""
from prometheus_client import Counter, Gauge, Histogram

RECEIVED_FEN = Counter(
    "onewindow_fees_received_fen_total", "Fen received through the window, by the department it is booked to",
    ["department"],
)
REFUNDED_FEN = Counter(
    "onewindow_fees_refunded_fen_total", "Fen refunded, by the department it is booked back from", ["department"]
)
WAIVED_FEN = Counter(
    "onewindow_fees_waived_fen_total", "Fen waived (减免), by the department of the fee line", ["department"]
)
REDUCED_FEN = Counter(
    "onewindow_fees_reduced_fen_total", "Fen reduced on single lines (减免), by the department of the line",
    ["department"],
)
BILLS_CANCELLED = Counter("onewindow_fees_bills_cancelled_total", "Unpaid bills cancelled: the case was withdrawn")
BILLS_REMINDED = Counter("onewindow_fees_bills_reminded_total", "Unpaid bills reminded by SMS")
BILLS_ISSUED = Counter("onewindow_fees_bills_issued_total", "Combined bills issued")
BILLS_PAID = Counter("onewindow_fees_bills_paid_total", "Combined bills paid")
PAYMENT_FAILURES = Counter(
    "onewindow_fees_payment_failures_total", "Payments refused, by reason", ["reason"]
)
BILL_TO_PAYMENT_SECONDS = Histogram(
    "onewindow_fees_bill_to_payment_seconds", "Time from issuing a bill to its payment",
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600, 3 * 24 * 3600, 7 * 24 * 3600, 30 * 24 * 3600),
)
LEDGER_BALANCED = Gauge(
    "onewindow_fees_ledger_balanced", "1 when the last ledger check found the books balanced, else 0"
)


def lines_by_department(lines):
    sums = {}
    for line in lines:
        sums[line["department"]] = sums.get(line["department"], 0) + line["amount_fen"]
    return sums


def received(lines):
    for department, fen in lines_by_department(lines).items():
        RECEIVED_FEN.labels(department).inc(fen)


def refunded(lines):
    for department, fen in lines_by_department(lines).items():
        REFUNDED_FEN.labels(department).inc(fen)


def waived(lines):
    for department, fen in lines_by_department(lines).items():
        WAIVED_FEN.labels(department).inc(fen)


def reduced(lines):
    for department, fen in lines_by_department(lines).items():
        REDUCED_FEN.labels(department).inc(fen)
