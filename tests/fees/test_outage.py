"""Fees down at peak: review approves cases whose acceptance reaches fees
only later. Every approval waits for its case, however many looks that takes
(here more than a failing handler's whole round of retries), and every bill
is issued; nothing is parked."""
from services.fees.service import FeesService

from .conftest import accepted_event, completed_event, fee

CASES = 200


def test_fees_back_after_an_outage_bills_every_case_and_parks_nothing(run_services, publish_event, fees_sql,
                                                                      wait, monkeypatch):
    # a shortened schedule, the same logic: 2 attempts for a real failure,
    # looks for a missing case at most 0.5 s apart
    monkeypatch.setenv("OW_INBOX_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("OW_INBOX_WAIT_CAP_SECONDS", "0.5")
    cases = [accepted_event([fee("F-MKT", "market", 100 + i)]) for i in range(CASES)]
    # fees is down while review approves every case
    approvals = [publish_event("review", "review_completed", completed_event(c["application_no"])) for c in cases]
    ids = [a["event_id"] for a in approvals]
    run_services(FeesService)
    # intake's acceptances are later still: every approval waits through
    # more looks than a failing handler gets attempts
    wait(lambda: fees_sql("SELECT count(*) AS n FROM inbox WHERE event_id = ANY(%s) AND status = 'waiting' "
                          "AND waits >= 3", (ids,))[0]["n"] == CASES, timeout=60,
         message="every early approval to wait for its case")
    for case in cases:
        publish_event("intake", "application_accepted", case)
    numbers = [c["application_no"] for c in cases]
    wait(lambda: fees_sql("SELECT count(*) AS n FROM bills WHERE application_no = ANY(%s)",
                          (numbers,))[0]["n"] == CASES, timeout=90, message="every case to be billed")
    assert fees_sql("SELECT count(*) AS n FROM inbox WHERE status = 'parked'")[0]["n"] == 0
    totals = fees_sql("SELECT sum(total_fen) AS fen FROM bills WHERE application_no = ANY(%s)", (numbers,))
    assert totals[0]["fen"] == sum(100 + i for i in range(CASES))
