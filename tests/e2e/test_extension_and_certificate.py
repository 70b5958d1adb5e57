"""A green-channel case whose lead department extends its review and issues
the licence: the four services on the real broker and database, from the
window to the applicant's SMS and their view of the case."""
import uuid

from scripts.sample import application
from tests.e2e.test_one_case import centre  # noqa: F401  (the four services)


def test_green_channel_extension_and_certificate_reach_the_applicant(centre, rpc, wait):  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    item = next(i for i in rpc.intake.list_items() if i["code"] == "ENT-EST")
    fields = rpc.intake.form_for("ENT-EST")
    fields = fields["fields"] if isinstance(fields, dict) else fields
    app, _ = application(item, fields, f"e2e-green-{tag}", phone="13700137001")
    app["green_channel"] = {"reason": "重点招商引资项目"}
    accepted = rpc.intake.submit(app)
    number = accepted["application_no"]
    assert accepted["status"] == "accepted"
    assert rpc.intake.get(number)["green_channel"] == {"reason": "重点招商引资项目"}

    lead, *others = item["departments"]
    task = wait(lambda: [t for t in rpc.review.tasks(lead, "open") if t["application_no"] == number],
                message="the lead department's task")[0]
    assert task["green_channel"] == {"reason": "重点招商引资项目"}
    assert rpc.review.tasks(lead, "open", 1)[0]["green_channel"] is not None  # green first

    extended = rpc.review.extend(task["task_id"], lead, 2, "需核实住所使用证明", f"e2e-ext-{tag}")["task"]
    new_due = extended["due_date"]
    wait(lambda: any(d["due_date"] == new_due for d in rpc.intake.get(number)["departments"]),
         message="intake to hear of the extension")
    assert rpc.intake.track(number, "13700137001")["due_date"] >= new_due

    licence = {"document_no": f"91350100MA{tag.upper()}", "document_name": "营业执照"}
    rpc.review.decide(task["task_id"], lead, task["assignee"], "approve", "同意", f"e2e-ok-{tag}", result=licence)
    for department in others:
        other = wait(lambda: [t for t in rpc.review.tasks(department, "open") if t["application_no"] == number],
                     message=f"{department}'s task")[0]
        rpc.review.decide(other["task_id"], department, other["assignee"], "approve", "同意",
                          f"e2e-ok-{tag}-{department}")
    tracked = wait(lambda: (t := rpc.intake.track(number, "13700137001"))["documents"] and t,
                   message="the licence in the applicant's view")
    assert tracked["documents"] == [licence]
    assert rpc.intake.get(number)["documents"][0]["document_no"] == licence["document_no"]

    def texts():
        messages = {m["template"]: m["text"] for m in rpc.notify.messages(application_no=number)}
        return messages if {"task_extended", "review_approved"} <= set(messages) else None

    sent = wait(texts, timeout=30, message="the extension and approval SMS")
    assert new_due in sent["task_extended"] and "需核实住所使用证明" in sent["task_extended"]
    assert f"营业执照（证号{licence['document_no']}）" in sent["review_approved"]
