"""The front office across the centre's real services: a case withdrawn in
review and one withdrawn awaiting payment, each ending with one SMS; a
reduced bill paid net; a complaint answered; the report with the hall."""
import uuid

import pytest

from onewindow import workdays
from scripts.sample import bill_or_none
from tests.intake.conftest import application


@pytest.fixture
def centre(run_services):
    from services.fees.service import FeesService
    from services.hall.service import HallService
    from services.intake.service import IntakeService
    from services.notify.service import NotifyService
    from services.review.service import ReviewService
    run_services(IntakeService, ReviewService, FeesService, NotifyService, HallService)


def templates(rpc, no):
    return [m["template"] for m in rpc.notify.messages(application_no=no)]


def test_withdrawals_reductions_and_complaints_across_the_centre(centre, rpc, wait):
    phone = "137" + str(uuid.uuid4().int)[:8]
    # withdrawn in review: every task moot, no bill, one SMS
    in_review = rpc.intake.submit(application("ENT-EST", phone=phone))["application_no"]
    wait(lambda: len(rpc.review.application(in_review)["tasks"]) == 5 if _known(rpc, in_review) else False,
         message="tasks opened")
    rpc.intake.withdraw(in_review, "另行选址", f"w-{in_review}")
    wait(lambda: rpc.review.application(in_review)["status"] == "withdrawn", message="withdrawn in review")
    assert {t["status"] for t in rpc.review.application(in_review)["tasks"]} == {"moot"}
    wait(lambda: "application_withdrawn" in templates(rpc, in_review), message="the withdrawal SMS")
    assert templates(rpc, in_review).count("application_withdrawn") == 1

    # an instant item awaiting payment: the bill is reduced, then the case withdrawn and the bill cancelled
    instant = rpc.intake.submit(application("PSB-SEAL", phone=phone))["application_no"]
    bill = wait(lambda: bill_or_none(rpc, instant), message="the bill")
    assert bill["lines"][0]["legal_basis"] == "《印铸刻字业暨印章管理规定》"
    reduced = rpc.fees.reduce(bill["bill_no"], "PSB", [{"fee_code": "PSB-SEAL", "amount_fen": 1000,
                                                         "legal_basis": "《困难群众收费减免办法》"}], f"r-{instant}")
    assert reduced["total_fen"] == 3000
    wait(lambda: (rpc.intake.track(instant, phone)["amount_due_fen"] == 3000), message="intake hears the new total")
    rpc.intake.withdraw(instant, "不再需要", f"w-{instant}")
    wait(lambda: rpc.fees.bill(instant)["status"] == "cancelled", message="bill cancelled")
    wait(lambda: (rpc.intake.get(instant)["bill"] or {}).get("status") == "cancelled", message="intake hears it")
    wait(lambda: {"bill_reduced", "application_withdrawn"} <= set(templates(rpc, instant)), message="the SMS")
    assert rpc.intake.get(instant)["status"] == "withdrawn"
    assert rpc.fees.check_ledger()["balanced"] is True

    complaint = rpc.intake.complain("窗口不一次性告知材料", phone, application_no=in_review, client_ref=f"c-{in_review}")
    rpc.intake.answer_complaint(complaint["complaint_no"], "已约谈窗口人员并致歉", f"a-{in_review}")
    wait(lambda: {"complaint_received", "complaint_answered"} <= {m["template"] for m in
                                                                  rpc.notify.messages(phone=phone)},
         message="the complaint's SMS")
    today = workdays.today().isoformat()
    report = rpc.intake.report(today, today)
    assert report["hall"] is True and report["withdrawn"] >= 2 and report["complaints"] >= 1
    assert isinstance(report["tickets"], int) and "预约办理" in report["headline"]


def _known(rpc, no):
    from nameko.exceptions import RemoteError
    try:
        rpc.review.application(no)
        return True
    except RemoteError:
        return False
