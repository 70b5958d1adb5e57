"""Bills: issued once per case, from the fee lines intake sent, when review
approves (or at once for an instant item with a fee)."""
import datetime
import re
import uuid

import pytest
from nameko.exceptions import RemoteError

from onewindow import metrics as platform_metrics

from scripts.sample import bill_or_none

from .conftest import accepted_event, completed_event, fee


def outbox(fees_sql, event_type, application_no):
    return fees_sql("SELECT payload FROM outbox WHERE event_type = %s AND payload->>'application_no' = %s "
                    "ORDER BY id", (event_type, application_no))


def inbox_done(fees_sql, event_id):
    rows = fees_sql("SELECT status FROM inbox WHERE event_id = %s", (event_id,))
    return rows and rows[0]["status"] == "done"


def test_approved_case_gets_one_combined_bill_with_every_department_line(billed, fees_sql):
    bill = billed([fee("F-MKT", "market", 5000, "registration"), fee("F-FIRE", "fire", 12000, "inspection")])
    assert re.fullmatch(rf"B{datetime.date.today().year}\d{{6}}", bill["bill_no"])
    assert bill["status"] == "unpaid"
    assert bill["total_fen"] == 17000
    assert [(l["fee_code"], l["department"], l["amount_fen"], l["treasury_account"]) for l in bill["lines"]] == [
        ("F-MKT", "market", 5000, "TR-MARKET-001"), ("F-FIRE", "fire", 12000, "TR-FIRE-002")]
    events = outbox(fees_sql, "bill_issued", bill["application_no"])
    assert len(events) == 1
    issued = events[0]["payload"]
    assert issued["bill_no"] == bill["bill_no"] and issued["total_fen"] == 17000 and issued["status"] == "unpaid"
    assert [l["name"] for l in issued["lines"]] == ["registration", "inspection"]
    assert issued["applicant"]["phone"] == "13800138000"
    assert issued["event_id"] and issued["occurred_at"]


def test_instant_item_with_a_fee_is_billed_at_acceptance(billed):
    bill = billed([fee("F-HLT", "health", 800)], kind="instant")
    assert bill["total_fen"] == 800 and bill["status"] == "unpaid"


def test_an_acceptance_heard_again_issues_no_second_bill_and_keeps_no_inbox_row(fees, publish_event, rpc, wait,
                                                                                 fees_sql):
    handled = platform_metrics.ENTRYPOINT_SECONDS.labels("fees", "on_application_accepted", "event")
    runs = lambda: sum(bucket.get() for bucket in handled._buckets)  # noqa: E731
    before = runs()
    event = publish_event("intake", "application_accepted", accepted_event([fee("F-HLT", "health", 800)],
                                                                           kind="instant"))
    no = event["application_no"]
    bill = wait(lambda: bill_or_none(rpc, no), message="the bill")
    publish_event("intake", "application_accepted", event)  # the same delivery again
    publish_event("intake", "application_accepted", dict(event, event_id=str(uuid.uuid4())))  # the fact again
    wait(lambda: runs() >= before + 3, message="both acceptances heard again")
    assert [e["payload"]["bill_no"] for e in outbox(fees_sql, "bill_issued", no)] == [bill["bill_no"]]
    assert rpc.fees.bill(no)["bill_no"] == bill["bill_no"]
    # repeatable: the case's record is its trace, not an inbox row
    assert fees_sql("SELECT 1 FROM inbox WHERE payload->>'application_no' = %s", (no,)) == []


@pytest.mark.parametrize("lines, free", [([], False), ([fee("F-MKT", "market", 5000)], True),
                                         ([fee("F-MKT", "market", 0)], False)])
def test_no_fee_or_free_registration_never_gets_a_bill(fees, publish_event, rpc, wait, fees_sql, lines, free):
    event = publish_event("intake", "application_accepted", accepted_event(lines, free_registration=free))
    approval = publish_event("review", "review_completed", completed_event(event["application_no"]))
    wait(lambda: inbox_done(fees_sql, approval["event_id"]), message="the approval to be handled")
    assert bill_or_none(rpc, event["application_no"]) is None
    assert outbox(fees_sql, "bill_issued", event["application_no"]) == []


def test_rejected_case_gets_no_bill_and_unknown_cases_are_not_found(fees, publish_event, rpc, wait, fees_sql):
    event = publish_event("intake", "application_accepted", accepted_event([fee("F-MKT", "market", 5000)]))
    rejection = publish_event("review", "review_completed", completed_event(event["application_no"], "rejected"))
    wait(lambda: inbox_done(fees_sql, rejection["event_id"]), message="the rejection to be handled")
    assert bill_or_none(rpc, event["application_no"]) is None
    with pytest.raises(RemoteError) as err:
        rpc.fees.bill("NO-SUCH-CASE")
    assert err.value.exc_type == "NotFound"
    with pytest.raises(RemoteError) as err:
        rpc.fees.bill("")
    assert err.value.exc_type == "ValidationFailed"


def test_approval_before_acceptance_is_retried_until_the_fee_lines_arrive(fees, publish_event, rpc, wait, fees_sql):
    event = accepted_event([fee("F-FIRE", "fire", 3000)])
    approval = publish_event("review", "review_completed", completed_event(event["application_no"]))
    wait(lambda: fees_sql("SELECT 1 FROM inbox WHERE event_id = %s AND status = 'waiting'", (approval["event_id"],)),
         message="the early approval to wait for the case")
    publish_event("intake", "application_accepted", event)
    bill = wait(lambda: bill_or_none(rpc, event["application_no"]), message="the bill after the retry")
    assert bill["total_fen"] == 3000


def test_a_second_approval_issues_no_second_bill_and_numbers_have_no_gaps(billed, publish_event, wait, fees_sql):
    billed()
    bill = billed()
    again = publish_event("review", "review_completed", completed_event(bill["application_no"]))
    wait(lambda: inbox_done(fees_sql, again["event_id"]), message="the second approval")
    assert len(fees_sql("SELECT 1 FROM bills WHERE application_no = %s", (bill["application_no"],))) == 1
    assert len(outbox(fees_sql, "bill_issued", bill["application_no"])) == 1
    numbers = sorted(int(r["bill_no"][5:]) for r in fees_sql(
        "SELECT bill_no FROM bills WHERE bill_no LIKE %s", (f"B{datetime.date.today().year}%",)))
    assert numbers == list(range(1, len(numbers) + 1))

