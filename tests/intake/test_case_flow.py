"""The case record kept current by the events of review, fees and notify
(no fan-out on read), and the events intake sends itself."""
import pytest
from nameko.exceptions import RemoteError

from tests.intake.conftest import ENT_EST_MATERIALS, application


def status_of(rpc, application_no):
    return rpc.intake.get(application_no)["status"]


def test_missing_materials_are_named_at_once_then_supplemented_to_acceptance(intake, rpc, outbox, intake_db):
    result = rpc.intake.submit(application("ENT-EST", materials=["APP-FORM", "ID-COPY"]))
    no = result["application_no"]
    assert result["status"] == "needs_materials" and result["due_date"] is None
    assert [m["code"] for m in result["missing_materials"]] == ["ENT-ARTICLES", "ENT-NAME-NOTICE", "ENT-PREMISES"]
    [requested] = outbox(no, "materials_requested")
    assert requested["stage"] == "intake" and requested["visits"] == 1
    assert len(requested["missing_materials"]) == 3 and "id_number" not in requested["applicant"]
    assert outbox(no, "application_accepted") == []

    partly = rpc.intake.supplement(no, ["ENT-ARTICLES"], f"s1-{no}")
    assert partly["status"] == "needs_materials"
    assert [m["code"] for m in partly["missing_materials"]] == ["ENT-NAME-NOTICE", "ENT-PREMISES"]
    done = rpc.intake.supplement(no, ["ENT-NAME-NOTICE", "ENT-PREMISES"], f"s2-{no}")
    assert done["status"] == "accepted" and done["due_date"] and done["receipt"]["title"] == "受理回执"
    assert rpc.intake.supplement(no, ["ENT-NAME-NOTICE", "ENT-PREMISES"], f"s2-{no}") == done  # idempotent
    [accepted] = outbox(no, "application_accepted")
    assert accepted["visits"] == 3 and accepted["due_date"] == done["due_date"]
    record = rpc.intake.get(no)
    assert record["visits"] == 3 and record["accepted_on"] == accepted["accepted_on"]
    assert set(record["materials"]) == set(ENT_EST_MATERIALS)
    with pytest.raises(RemoteError) as err:
        rpc.intake.supplement(no, ["ENT-PREMISES"], f"s3-{no}")
    assert err.value.exc_type == "Conflict"
    with pytest.raises(RemoteError) as err:
        rpc.intake.supplement(no, ["NOT-A-MATERIAL"], f"s4-{no}")
    assert err.value.exc_type == "ValidationFailed" and "materials.0" in err.value.value
    with pytest.raises(RemoteError) as err:
        rpc.intake.supplement("ZW1999000001", ["APP-FORM"], f"s5-{no}")
    assert err.value.exc_type == "NotFound"


def test_instant_item_without_fee_is_completed_on_the_spot(intake, rpc, outbox):
    result = rpc.intake.submit(application("ENT-NAME"))
    assert result["status"] == "completed"
    assert result["due_date"] == outbox(result["application_no"], "application_accepted")[0]["accepted_on"]
    accepted, completed = outbox(result["application_no"])
    assert (accepted["_type"], completed["_type"]) == ("application_accepted", "application_completed")
    assert accepted["departments"] == [] and accepted["fees"] == [] and accepted["status"] == "completed"
    assert completed["outcome"] == "approved" and completed["status"] == "completed"


def test_instant_item_with_fee_awaits_payment_then_completes_on_payment(intake, rpc, outbox, publish, wait):
    result = rpc.intake.submit(application("PSB-SEAL"))
    no = result["application_no"]
    assert result["status"] == "awaiting_payment"
    [accepted] = outbox(no, "application_accepted")
    assert [f["fee_code"] for f in accepted["fees"]] == ["PSB-SEAL"] and accepted["fees"][0]["treasury_account"]
    publish("fees", "bill_issued", {"application_no": no, "bill_no": f"B-{no}", "total_fen": 4000,
                                    "lines": accepted["fees"], "status": "unpaid"})
    wait(lambda: (rpc.intake.get(no)["bill"] or {}).get("bill_no") == f"B-{no}", message="bill recorded")
    publish("fees", "bill_paid", {"application_no": no, "bill_no": f"B-{no}", "total_fen": 4000, "lines": [],
                                  "method": "wechat", "payment_ref": f"p-{no}", "receipt_no": f"R-{no}",
                                  "paid_at": "2026-03-02T10:00:00+08:00"})
    wait(lambda: status_of(rpc, no) == "completed", message="completed after payment")
    assert [e["outcome"] for e in outbox(no, "application_completed")] == ["approved"]


def test_free_registration_lists_fees_but_bills_nothing(intake, rpc, outbox):
    result = rpc.intake.submit(application("NTAX-REG"))
    assert result["status"] == "completed" and result["receipt"]["free_registration"] is True
    assert result["receipt"]["total_fen"] == 0
    [accepted] = outbox(result["application_no"], "application_accepted")
    assert accepted["fees"] == [] and accepted["free_registration"] is True


def test_parallel_review_to_payment_kept_current_from_events(intake, rpc, outbox, publish, wait):
    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    publish("review", "task_decided", {"application_no": no, "task_id": "t-mr", "department": "MR",
                                       "decision": "approve", "task_status": "approved", "reviewer": "mr-li",
                                       "acting_for": "mr-wang", "opinion": "同意", "legal_basis": None,
                                       "missing_materials": None, "decided_at": "2026-03-02T10:00:00+08:00"})
    publish("review", "task_warning", {"application_no": no, "task_id": "t-qs", "department": "QS",
                                       "department_name": "质量技术监督局", "level": "yellow", "assignee": "qs-zhao",
                                       "assignee_phone": "13800000201", "due_date": "2026-03-09",
                                       "working_days_left": 1})
    wait(lambda: status_of(rpc, no) == "in_review", message="in review")
    record = wait(lambda: (lambda r: r if {d["department"]: d for d in r["departments"]}["QS"]["warning_level"]
                           == "yellow" else None)(rpc.intake.get(no)), message="warning recorded")
    mr = record["departments"][0]
    assert (mr["status"], mr["reviewer"], mr["acting_for"]) == ("approved", "mr-li", "mr-wang")
    # payment heard before the review's outcome: the case waits for the outcome
    publish("fees", "bill_paid", {"application_no": no, "bill_no": f"B-{no}", "total_fen": 44800, "lines": [],
                                  "method": "card", "payment_ref": f"p-{no}", "receipt_no": f"R-{no}",
                                  "paid_at": "2026-03-02T11:00:00+08:00"})
    wait(lambda: (rpc.intake.get(no)["bill"] or {}).get("status") == "paid", message="payment recorded")
    assert status_of(rpc, no) == "in_review"
    publish("review", "review_completed", {"application_no": no, "outcome": "approved", "rejections": [],
                                           "completed_at": "2026-03-02T10:30:00+08:00"})
    wait(lambda: status_of(rpc, no) == "completed", message="completed")
    text = {"application_no": no, "source_event_id": "x", "template": "result", "segments": 1,
            "phone_masked": "139****5678", "text": "【政务服务中心】您的办件已办结"}
    # one text as a notify before message_statuses told it, then two together,
    # the first of them sent and delivered at once (a late "sent" never undoes "delivered")
    publish("notify", "message_status", dict(text, message_id=f"m1-{no}", status="sent",
                                             at="2026-03-02T10:30:30+08:00"))
    wait(lambda: rpc.intake.get(no)["notices"], message="the first notice")
    publish("notify", "message_statuses", {"messages": [
        dict(text, message_id=f"m2-{no}", status="sent", at="2026-03-02T10:31:00+08:00"),
        dict(text, message_id=f"m2-{no}", status="delivered", at="2026-03-02T10:31:05+08:00"),
        dict(text, message_id=f"m1-{no}", status="delivered", at="2026-03-02T10:31:10+08:00"),
        dict(text, message_id=f"m2-{no}", status="sent", at="2026-03-02T10:31:00+08:00")]})
    record = wait(lambda: (lambda r: r if {n["status"] for n in r["notices"]} == {"delivered"} else None)(
        rpc.intake.get(no)), message="notices recorded")
    assert sorted(n["message_id"] for n in record["notices"]) == [f"m1-{no}", f"m2-{no}"]
    assert [e["outcome"] for e in outbox(no, "application_completed")] == ["approved"]
    assert {h["event_type"] for h in record["history"]} >= {"accepted", "task_decided", "task_warning",
                                                             "bill_paid", "review_completed", "concluded"}


def test_rejection_concludes_with_every_opinion(intake, rpc, outbox, publish, wait):
    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    rejections = [{"department": "QS", "department_name": "质量技术监督局", "opinion": "经营范围不符",
                   "legal_basis": "《产品质量法》第十二条", "reviewer": "qs-zhao"}]
    publish("review", "veto_filed", {"application_no": no, "task_id": "t", "department": "QS", "reviewer": "qs-zhao",
                                     "acting_for": None, "opinion": "经营范围不符",
                                     "legal_basis": "《产品质量法》第十二条", "decided_at": "2026-03-02T10:00:00+08:00"})
    publish("review", "review_completed", {"application_no": no, "outcome": "rejected", "rejections": rejections,
                                           "completed_at": "2026-03-02T10:30:00+08:00"})
    wait(lambda: status_of(rpc, no) == "rejected", message="rejected")
    record = rpc.intake.get(no)
    assert record["rejections"] == rejections and record["outcome"] == "rejected"
    [completed] = outbox(no, "application_completed")
    assert completed["status"] == "rejected" and completed["outcome"] == "rejected"


def test_review_sends_back_for_materials_and_supplement_restarts_the_clock(intake, rpc, outbox, publish, wait):
    no = rpc.intake.submit(application("ENT-EST"))["application_no"]
    publish("review", "task_decided", {"application_no": no, "task_id": "t-mr", "department": "MR",
                                       "decision": "approve", "task_status": "approved", "reviewer": "mr-wang",
                                       "acting_for": None, "opinion": "同意", "legal_basis": None,
                                       "missing_materials": None, "decided_at": "2026-03-02T10:00:00+08:00"})
    publish("review", "materials_requested", {
        "application_no": no, "stage": "review",
        "missing_materials": [{"code": "SH-ID", "name": "股东主体资格证明", "departments": ["QS", "NTAX"]},
                              {"code": "BANK-LETTER", "name": "银行开户许可", "departments": ["NTAX"]}]})
    wait(lambda: status_of(rpc, no) == "needs_materials", message="sent back")
    wait(lambda: rpc.intake.get(no)["departments"][0]["status"] == "approved", message="MR decision recorded")
    tracked = rpc.intake.track(no, "13912345678")
    assert [m["code"] for m in tracked["awaiting_materials"]] == ["SH-ID", "BANK-LETTER"]
    result = rpc.intake.supplement(no, ["SH-ID", "BANK-LETTER"], f"sup-{no}")
    assert result["status"] == "in_review" and result["missing_materials"] == []
    [event] = outbox(no, "materials_supplemented")
    assert event["materials"] == ["SH-ID", "BANK-LETTER"]
    assert {d["code"] for d in event["departments"]} == {"QS", "NTAX", "LTAX", "STAT"}   # MR already approved
    assert rpc.intake.get(no)["visits"] == 2
