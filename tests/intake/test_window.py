"""submit, supplement and get at the window, against the real broker and database."""
import hashlib
import json

import pytest
from nameko.exceptions import RemoteError

from tests.intake.conftest import application


def test_complete_enterprise_establishment_is_accepted_with_a_receipt(intake, rpc, outbox):
    result = rpc.intake.submit(application("ENT-EST"))
    assert result["status"] == "accepted"
    assert result["application_no"].startswith("ZW")
    assert result["missing_materials"] == []
    assert result["due_date"] and result["provisional"] in (True, False)
    receipt = result["receipt"]
    assert [d["code"] for d in receipt["departments"]] == ["MR", "QS", "NTAX", "LTAX", "STAT"]
    assert receipt["total_fen"] == 30000 + 14800 and receipt["collect"]
    record = rpc.intake.get(result["application_no"])
    assert record["status"] == "accepted"
    assert [d["department"] for d in record["departments"]] == ["MR", "QS", "NTAX", "LTAX", "STAT"]
    [accepted] = outbox(result["application_no"], "application_accepted")
    assert accepted["applicant"] == {"kind": "enterprise", "name": "示例科技有限公司",
                                     "name_masked": accepted["applicant"]["name_masked"], "phone": "13912345678"}
    stat = next(d for d in accepted["departments"] if d["code"] == "STAT")
    assert "legal_rep_id_number" not in stat["fields"]          # STAT does not use it
    assert stat["fields"]["enterprise_name"] == "示例科技有限公司"
    assert stat["roster"]["primary"]["phone"] and stat["supervisor_phone"]


def test_rejected_submission_lists_every_problem_and_stores_nothing(intake, rpc, intake_db):
    bad = application("ENT-EST", channel="fax")
    bad["applicant"] = {"kind": "person", "name": "张三", "id_number": "110105194912310021", "phone": "12345"}
    bad["form"]["registered_capital"] = "100万"
    bad["form"]["favourite_colour"] = "red"
    del bad["form"]["business_scope"]
    bad["materials"].append("NOT-A-MATERIAL")
    with pytest.raises(RemoteError) as err:
        rpc.intake.submit(bad)
    assert err.value.exc_type == "ValidationFailed"
    problems = json.loads(err.value.value)
    assert set(problems) >= {"channel", "applicant.id_number", "applicant.phone", "form.registered_capital",
                             "form.favourite_colour", "form.business_scope", "materials.5"}
    assert intake_db("SELECT 1 FROM applications WHERE client_ref = %s", (bad["client_ref"],)) == []
    # its key stays free: the idempotency record went with the rollback
    # (where a call that succeeds keeps one)
    def key_kept(client_ref):
        return intake_db("SELECT 1 FROM idempotency_keys WHERE method = 'intake.submit' AND key = %s",
                         (hashlib.sha256(client_ref.encode()).hexdigest(),)) != []
    good = application("ENT-EST")
    rpc.intake.submit(good)
    assert key_kept(good["client_ref"]) and not key_kept(bad["client_ref"])


def test_each_change_names_its_principal_and_a_window_principal_takes_the_case(intake, rpc):
    portal = rpc.as_role("portal")
    online = portal.intake.submit(application("ENT-EST", channel="online", materials=["APP-FORM", "ID-COPY"]))
    no = online["application_no"]
    rpc.intake.supplement(no, ["ENT-ARTICLES", "ENT-NAME-NOTICE", "ENT-PREMISES"], f"s-{no}")
    complaint = portal.intake.complain("窗口态度差", "13912345678", application_no=no, client_ref=f"c-{no}")
    rpc.intake.answer_complaint(complaint["complaint_no"], "已核实并整改", f"a-{no}")
    rpc.intake.withdraw(no, "不再办理", f"w-{no}")
    record = rpc.intake.get(no)
    assert record["window"] is None                     # taken online: no window to rank
    assert [(h["event_type"], h["by"]) for h in record["history"] if h["source"] == "intake"] == [
        ("received", "sbx-portal"), ("accepted", "sbx-window"), ("complaint", "sbx-portal"),
        ("complaint_answered", "sbx-window"), ("withdrawn", "sbx-window")]

    at_window = rpc.as_role("window").intake.submit(application("ENT-EST"))
    record = rpc.intake.get(at_window["application_no"])
    assert record["window"] == "sbx-window" and record["history"][0]["by"] == "sbx-window"
