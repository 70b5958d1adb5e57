"""Walk one case through a running OneWindow (`make run`) with the standalone
RPC client, the way a department system would, printing every step and every
SMS. Usage: make demo  [ITEM=ENT-EST]"""
import json
import os
import sys
import time
import uuid

from nameko.standalone.rpc import ClusterRpcProxy

from onewindow import config
from scripts.sample import application, bill_or_none


def step(title):
    print(f"\n== {title}")


def show(value):
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def wait_for(predicate, what, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise SystemExit(f"gave up waiting for {what} after {timeout}s")


def main(item_code):
    tag = uuid.uuid4().hex[:8]
    with ClusterRpcProxy({"AMQP_URI": config.amqp_uri()}, timeout=30) as rpc:
        items = {i["code"]: i for i in rpc.intake.list_items()}
        item = items[item_code]
        form = rpc.intake.form_for(item_code)
        fields = form["fields"] if isinstance(form, dict) else form
        step(f"catalog: {len(items)} items; {item_code} {item['name']}: {item['kind']}, "
             f"departments {', '.join(item['departments'])}, one form of {len(fields)} fields")

        step("the applicant forgets a material: one complete notice (一次性告知)")
        app, missing = application(item, fields, f"demo-{tag}-1", leave_out_materials=1)
        first = rpc.intake.submit(app)
        show(first)
        number = first["application_no"]

        if first["status"] == "needs_materials":
            step("second visit: supplement (补正)")
            second = rpc.intake.supplement(number, [m["code"] for m in missing], f"demo-{tag}-2")
            show(second)

        if item["kind"] == "committed":
            step("every department reviews at the same time (并联审批), each from its own system")
            for department in item["departments"]:
                task = wait_for(lambda: [t for t in rpc.review.tasks(department, status="open")
                                         if t["application_no"] == number], f"{department}'s task")[0]
                decided = rpc.review.decide(task["task_id"], department, task["assignee"], "approve",
                                            "材料齐全，符合法定条件，同意。", f"demo-{tag}-{department}")
                print(f"  {department}: {task['assignee']} approves task {task['task_id']} "
                      f"(due {task['due_date']}, {len(task.get('fields', {}))} fields seen) -> task {decided['task']['status']}, case {decided['application_status']}")

        record = wait_for(lambda: (lambda r: r if r["status"] in ("awaiting_payment", "completed", "rejected") else None)(
            rpc.intake.get(number)), "the review outcome")
        if record["status"] == "awaiting_payment":
            step("one bill, one payment, every department's share booked (一个窗口收费)")
            bill = wait_for(lambda: bill_or_none(rpc, number), "the bill")
            show(bill)
            show(rpc.fees.pay(bill["bill_no"], bill["total_fen"], "pos", f"demo-{tag}-pay"))
            wait_for(lambda: rpc.intake.get(number)["status"] == "completed", "completion")

        step("satisfaction (服务评价)")
        show(rpc.intake.rate(number, 5, "窗口服务热情高效"))

        step("what the applicant sees (track, personal data masked)")
        show(rpc.intake.track(number, app["applicant"]["phone"]))

        step("every SMS of this case")
        time.sleep(2)
        for message in rpc.notify.messages(application_no=number):
            print(f"  [{message['status']:<9}] {message['template']:<20} {message['segments']} segment(s): {message['text']}")

        step("the ledger (收支两条线)")
        show(rpc.fees.check_ledger())


if __name__ == "__main__":
    main(os.environ.get("ITEM", sys.argv[1] if len(sys.argv) > 1 else "ENT-EST"))
