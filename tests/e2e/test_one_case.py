"""One real case from the window to the applicant's SMS: the four services as
real nameko containers on the real broker and database."""
import uuid

import pytest
from nameko.exceptions import RemoteError

from scripts.sample import application, bill_or_none


@pytest.fixture
def centre(run_services):
    from services.fees.service import FeesService
    from services.intake.service import IntakeService
    from services.notify.service import NotifyService
    from services.review.service import ReviewService
    # with the applicants' web configured: the receipt links to tracking, the last text to rating
    run_services(IntakeService, ReviewService, FeesService, NotifyService,
                 notify={"OW_PORTAL_URL": "https://zwfw.example.gov.cn", "OW_PORTAL_SECRET": "e2e-secret"})


def test_enterprise_establishment_from_window_to_sms(centre, rpc, wait):
    tag = uuid.uuid4().hex[:8]
    item = next(i for i in rpc.intake.list_items() if i["code"] == "ENT-EST")
    form = rpc.intake.form_for("ENT-EST")
    fields = form["fields"] if isinstance(form, dict) else form
    app, missing = application(item, fields, f"e2e-{tag}", phone="13700137000", leave_out_materials=1)

    first = rpc.intake.submit(app)
    assert first["status"] == "needs_materials"
    assert [m["code"] for m in first["missing_materials"]] == [m["code"] for m in missing]
    number = first["application_no"]
    # the same call again changes nothing
    assert rpc.intake.submit(app)["application_no"] == number

    accepted = rpc.intake.supplement(number, [m["code"] for m in missing], f"e2e-{tag}-s")
    assert accepted["status"] == "accepted" and accepted["due_date"]

    for department in item["departments"]:
        task = wait(lambda: [t for t in rpc.review.tasks(department, status="open")
                             if t["application_no"] == number], message=f"{department}'s task")[0]
        rpc.review.decide(task["task_id"], department, task["assignee"], "approve", "同意", f"e2e-{tag}-{department}")

    bill = wait(lambda: bill_or_none(rpc, number), message="the bill")
    assert bill["total_fen"] == sum(line["amount_fen"] for line in bill["lines"]) > 0
    rpc.fees.pay(bill["bill_no"], bill["total_fen"], "pos", f"e2e-{tag}-pay")

    wait(lambda: rpc.intake.get(number)["status"] == "completed", message="the case to complete")
    review = rpc.review.application(number)
    assert review["status"] == "approved"
    assert {t["department"] for t in review["tasks"]} == set(item["departments"])
    assert all(t["status"] == "approved" for t in review["tasks"])
    assert rpc.fees.bill(number)["status"] == "paid"
    assert rpc.fees.check_ledger()["balanced"] is True

    def all_sent():
        messages = rpc.notify.messages(application_no=number)
        done = all(m["status"] in ("sent", "delivered") for m in messages)
        return messages if done and len({m["template"] for m in messages}) >= 6 else None

    templates = wait(all_sent, timeout=30, message="the applicant's SMS, every one sent")
    texts = " ".join(m["text"] for m in templates)
    assert number in texts
    assert app["applicant"]["id_number" if "id_number" in app["applicant"] else "uscc"] not in texts
    # at most once per event and template
    keys = [(m["event_id"], m["template"]) for m in templates]
    assert len(keys) == len(set(keys))
    assert {"materials_requested", "application_accepted_online", "review_approved", "bill_issued", "bill_paid",
            "rating_invitation"} <= {m["template"] for m in templates}

    record = rpc.intake.get(number)
    assert record["status"] == "completed"
    rpc.intake.rate(number, 5)
    with pytest.raises(RemoteError) as again:
        rpc.intake.rate(number, 4)
    assert again.value.exc_type == "Conflict"
