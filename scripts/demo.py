"""Walk one case through a running OneWindow (`make run`) with the standalone
RPC client, the way a department system would, printing every step and every
SMS. Usage: make demo  [ITEM=ENT-EST]"""
import contextlib
import datetime
import json
import os
import sys
import time
import urllib.parse
import uuid

from onewindow import config
from onewindow.cli import vhost_of
from onewindow.sandbox import create_impersonator, delete_user, env_router
from scripts.sample import application, bill_or_none
from services.registry import CENTRE


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


@contextlib.contextmanager
def demo_caller():
    """A broker user for this walk-through only, which may act as each
    principal in turn (window, each department, cashier, portal): the demo
    plays every desk of the centre. Removed at the end."""
    user, password = f"ow-demo-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    parts = urllib.parse.urlsplit(config.amqp_uri())
    create_impersonator(vhost_of(config.amqp_uri()), user, password)
    try:
        yield parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port or 5672}").geturl()
    finally:
        delete_user(user)


def main(item_code):
    tag = uuid.uuid4().hex[:8]
    with demo_caller() as uri, env_router(CENTRE, timeout=30, uri=uri) as rpc:
        items = {i["code"]: i for i in rpc.intake.list_items()}
        item = items[item_code]
        form = rpc.intake.form_for(item_code)
        fields = form["fields"] if isinstance(form, dict) else form
        step(f"catalog: {len(items)} items; {item_code} {item['name']}: {item['kind']}, "
             f"departments {', '.join(item['departments'])}, one form of {len(fields)} fields")

        step("the applicant forgets a material: one complete notice (一次性告知)")
        app, missing = application(item, fields, f"demo-{tag}-1", leave_out_materials=1)
        app["green_channel"] = {"reason": "重点招商引资项目"}  # 绿色通道: reviewed first everywhere
        first = rpc.intake.submit(app)
        show(first)
        number = first["application_no"]

        if first["status"] == "needs_materials":
            step("second visit: supplement (补正)")
            second = rpc.intake.supplement(number, [m["code"] for m in missing], f"demo-{tag}-2")
            show(second)

        if item["kind"] == "committed":
            lead = item["departments"][0]
            step(f"{lead}'s system syncs from its feed (green channel first)")
            page = wait_for(lambda: (lambda p: p if any(t["application_no"] == number for t in p["tasks"])
                                     else None)(rpc.review.feed(lead, None, 1000)), f"{lead}'s feed")
            task = next(t for t in page["tasks"] if t["application_no"] == number)
            print(f"  cursor {page['cursor']}; task {task['task_id']} green_channel={task['green_channel']} "
                  f"due {task['due_date']}; assignee {task['assignee']}: {task['assignment']['reason']}")

            step("what supervision would do if nobody acted (a dry run: 督办 rising to level 3)")
            horizon = (datetime.date.fromisoformat(task["due_date"]) + datetime.timedelta(days=30)).isoformat()
            for event in rpc.review.supervise(horizon, dry_run=True)["timeline"]:
                if event["application_no"] == number:
                    print(f"  {event['on']}  {event['department']:<6} {event['action']}")

            step(f"延期: {lead} extends its task once, within the item's legal limit")
            extended = rpc.review.extend(task["task_id"], lead, 2, "需现场核查住所使用情况", f"demo-{tag}-ext")
            show(extended["task"]["extension"])

            step("every department reviews at the same time (并联审批); the lead issues the licence (出证)")
            for department in item["departments"]:
                task = wait_for(lambda: [t for t in rpc.review.tasks(department, status="open")
                                         if t["application_no"] == number], f"{department}'s task")[0]
                result = {"document_no": f"91330100MA{tag.upper()}", "document_name": "营业执照"} \
                    if department == lead else None
                decided = rpc.review.decide(task["task_id"], department, task["assignee"], "approve",
                                            "材料齐全，符合法定条件，同意。", f"demo-{tag}-{department}", result=result)
                print(f"  {department}: {task['assignee']} approves task {task['task_id']} "
                      f"(due {task['due_date']}, {len(task.get('fields', {}))} fields seen) -> task {decided['task']['status']}, case {decided['application_status']}"
                      + (f", issues {result['document_name']} {result['document_no']}" if result else ""))

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
