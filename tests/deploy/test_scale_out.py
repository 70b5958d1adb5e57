"""Two replicas of every service on the same broker and databases: competing
consumers on every queue, two outbox relays per service, two supervision
timers. Every case is still processed exactly once."""
import json
import shutil
import subprocess
import urllib.parse
import urllib.request
import uuid

import psycopg

from scripts.sample import application, bill_or_none

CASES = 6
ONCE_PER_CASE = {
    "intake": ("application_accepted", "application_completed"),
    "review": ("review_completed",),
    "fees": ("bill_issued", "bill_paid"),
}


def consumers_per_queue(vhost):
    """{queue: consumers} from the broker, by rabbitmqctl or the management API."""
    if shutil.which("rabbitmqctl"):
        done = subprocess.run(["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "consumers",
                               "--no-table-headers"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return {name: int(n) for name, n in (line.split() for line in done.stdout.splitlines() if line.strip())}
    req = urllib.request.Request(f"http://127.0.0.1:15672/api/queues/{urllib.parse.quote(vhost, safe='')}",
                                 headers={"authorization": "Basic Z3Vlc3Q6Z3Vlc3Q="})
    with urllib.request.urlopen(req, timeout=10) as response:
        return {q["name"]: q.get("consumers", 0) for q in json.loads(response.read())}


def test_two_replicas_of_each_service_process_every_case_once(platform_env, run_services, rpc, wait):
    from services.fees.service import FeesService
    from services.intake.service import IntakeService
    from services.notify.service import NotifyService
    from services.review.service import ReviewService
    classes = (IntakeService, ReviewService, FeesService, NotifyService)
    run_services(*classes)
    run_services(*classes)

    # every RPC queue and every event queue has both replicas consuming from it
    queues = consumers_per_queue(platform_env["vhost"])
    for service in ("intake", "review", "fees", "notify"):
        assert queues[f"rpc-{service}"] == 2, queues
    event_queues = {q: n for q, n in queues.items()
                    if q.startswith("evt-") and q.split("--", 1)[1].split(".")[0] in ("intake", "review", "fees", "notify")}
    assert event_queues and all(n == 2 for n in event_queues.values()), event_queues

    tag = uuid.uuid4().hex[:8]
    item = next(i for i in rpc.intake.list_items() if i["kind"] == "committed" and i["fees"])
    form = rpc.intake.form_for(item["code"])
    fields = form["fields"] if isinstance(form, dict) else form
    numbers = []
    for n in range(CASES):
        app, _ = application(item, fields, f"scale-{tag}-{n}", phone=f"1370013{n:04d}")
        numbers.append(rpc.intake.submit(app)["application_no"])
    assert len(set(numbers)) == CASES

    for department in item["departments"]:
        def all_tasks():
            open_tasks = {t["application_no"]: t for t in rpc.review.tasks(department, status="open")
                          if t["application_no"] in numbers}
            return open_tasks if len(open_tasks) == CASES else None
        for number, task in wait(all_tasks, timeout=30, message=f"{department}'s tasks").items():
            rpc.review.decide(task["task_id"], department, task["assignee"], "approve", "同意",
                              f"scale-{tag}-{number}-{department}")

    for number in numbers:
        bill = wait(lambda: bill_or_none(rpc, number), timeout=30, message=f"the bill of {number}")
        rpc.fees.pay(bill["bill_no"], bill["total_fen"], "pos", f"scale-{tag}-{number}-pay")
    for number in numbers:
        wait(lambda: rpc.intake.get(number)["status"] == "completed", timeout=30, message=f"{number} to complete")

    # each service recorded each once-per-case event exactly once per case
    for service, event_types in ONCE_PER_CASE.items():
        with psycopg.connect(platform_env["databases"][service]) as conn:
            rows = conn.execute(
                "SELECT payload->>'application_no' AS number, event_type, count(*) FROM outbox "
                "WHERE payload->>'application_no' = ANY(%s) AND event_type = ANY(%s) "
                "GROUP BY 1, 2", (numbers, list(event_types))).fetchall()
        counts = {(number, event_type): n for number, event_type, n in rows}
        assert counts == {(number, t): 1 for number in numbers for t in event_types}, (service, counts)

    # one task per department, one bill, one payment per case
    with psycopg.connect(platform_env["databases"]["review"]) as conn:
        tasks = conn.execute("SELECT count(*) FROM tasks WHERE application_no = ANY(%s)", (numbers,)).fetchone()[0]
    assert tasks == CASES * len(item["departments"])
    with psycopg.connect(platform_env["databases"]["fees"]) as conn:
        bills = conn.execute("SELECT count(*) FROM bills WHERE application_no = ANY(%s)", (numbers,)).fetchone()[0]
        paid = conn.execute("SELECT count(*) FROM payments p JOIN bills b USING (bill_no) "
                            "WHERE b.application_no = ANY(%s)", (numbers,)).fetchone()[0]
    assert (bills, paid) == (CASES, CASES)
    assert rpc.fees.check_ledger()["balanced"] is True

    # the applicant got each SMS once, whichever replica handled the event
    for number in numbers:
        def sent():
            messages = rpc.notify.messages(application_no=number)
            templates = [m["template"] for m in messages]
            wanted = {"application_accepted", "review_approved", "bill_issued", "bill_paid"}
            return messages if wanted <= set(templates) else None
        messages = wait(sent, timeout=30, message=f"the SMS of {number}")
        keys = [(m["event_id"], m["template"]) for m in messages]
        assert len(keys) == len(set(keys)), messages
        per_template = {}
        for m in messages:
            per_template[m["template"]] = per_template.get(m["template"], 0) + 1
        for template in ("application_accepted", "review_approved", "bill_issued", "bill_paid"):
            assert per_template[template] == 1, (number, per_template)
