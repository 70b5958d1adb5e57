"""fees exports the metric names docs/metrics.md promises, with their labels."""
from prometheus_client import REGISTRY

from services.fees import metrics


def described():
    return {m.name: m for m in REGISTRY.collect()}


def test_fees_metric_names_and_labels():
    metrics.RECEIVED_FEN.labels("market")
    names = {}
    for collector in (metrics.RECEIVED_FEN, metrics.REFUNDED_FEN, metrics.WAIVED_FEN, metrics.BILLS_ISSUED,
                      metrics.BILLS_PAID, metrics.PAYMENT_FAILURES, metrics.BILL_TO_PAYMENT_SECONDS,
                      metrics.LEDGER_BALANCED):
        names[collector._name] = collector._labelnames
    assert names == {
        "onewindow_fees_received_fen": ("department",), "onewindow_fees_refunded_fen": ("department",),
        "onewindow_fees_waived_fen": ("department",), "onewindow_fees_bills_issued": (),
        "onewindow_fees_bills_paid": (), "onewindow_fees_payment_failures": ("reason",),
        "onewindow_fees_bill_to_payment_seconds": (), "onewindow_fees_ledger_balanced": (),
    }
    assert "onewindow_fees_received_fen" in described()  # counters drop _total in the family name


def test_fen_are_counted_per_department_of_each_line():
    before = metrics.WAIVED_FEN.labels("tax")._value.get()
    metrics.waived([{"department": "tax", "amount_fen": 300}, {"department": "tax", "amount_fen": 200},
                    {"department": "fire", "amount_fen": 1}])
    assert metrics.WAIVED_FEN.labels("tax")._value.get() == before + 500
