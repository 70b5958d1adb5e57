"""A real Prometheus server scrapes the four running services, evaluates the
recording rules of deploy/, and gives back through its HTTP query API what
the services did: RPC calls, cases received, tasks open by department, fen
received. `promtool check metrics` passes on every service's /metrics.
One test, because starting and stopping the four services costs seconds."""
import json
import pathlib
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = pathlib.Path(__file__).resolve().parents[2]
from onewindow.sandbox import free_port
from services.registry import CENTRE

SERVICES = CENTRE.names     # every service of the centre: each /metrics is linted


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash scripts/ensure-tools.sh` (Debian package `prometheus`)")
    return path


def get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


class PrometheusServer:
    def __init__(self, base):
        self.base = base

    def query(self, promql):
        body = json.loads(get(f"{self.base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"))
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, promql):
        """The single value of an instant query, or None while there is none."""
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None


@pytest.fixture
def metrics_ports():
    return {service: free_port() for service in SERVICES}


@pytest.fixture
def centre(run_services, metrics_ports):
    run_services(*CENTRE.classes,
                 **{s: {"METRICS_PORT": port, "METRICS_ADDR": "127.0.0.1"} for s, port in metrics_ports.items()})
    return metrics_ports


@pytest.fixture
def prometheus(centre, tmp_path, wait):
    """Prometheus with the deployed rule files and a scrape job per service,
    pointed at the ports the services run on in this process."""
    binary = tool("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ROOT / "deploy" / "prometheus" / "rules.yml"),
                       str(ROOT / "deploy" / "prometheus" / "alerts.yml")],
        "scrape_configs": [{"job_name": service, "static_configs": [{"targets": [f"127.0.0.1:{p}"]}]}
                           for service, p in centre.items()],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "w")
    proc = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
        try:
            return get(f"{base}/-/ready", timeout=1)
        except (urllib.error.URLError, ConnectionError):
            return None

    try:
        wait(ready, timeout=30, message="prometheus to be ready")
        yield PrometheusServer(base)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def local(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def local_sum(name, **labels):
    """Sum of this process' samples of `name` whose labels include `labels`."""
    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def drive_one_case(rpc, wait):
    """A committed case from the window to payment. Returns its item."""
    from scripts.sample import application, bill_or_none

    tag = uuid.uuid4().hex[:8]
    item = next(i for i in rpc.intake.list_items() if i["kind"] == "committed" and i["fees"])
    form = rpc.intake.form_for(item["code"])
    fields = form["fields"] if isinstance(form, dict) else form
    app, _ = application(item, fields, f"prom-{tag}")
    number = rpc.intake.submit(app)["application_no"]
    for department in item["departments"]:
        task = wait(lambda: [t for t in rpc.review.tasks(department, status="open")
                             if t["application_no"] == number], message=f"{department}'s task")[0]
        rpc.review.decide(task["task_id"], department, task["assignee"], "approve", "同意", f"prom-{tag}-{department}")

    issued = wait(lambda: bill_or_none(rpc, number), message="the bill")
    rpc.fees.pay(issued["bill_no"], issued["total_fen"], "pos", f"prom-{tag}-pay")
    wait(lambda: rpc.intake.get(number)["status"] == "completed", message="the case to complete")
    return item, issued


def services_implemented():
    from services.fees.service import FeesService
    from services.intake.service import IntakeService
    from services.review.service import ReviewService
    return all(hasattr(cls, name) for cls, name in
               ((IntakeService, "submit"), (ReviewService, "decide"), (FeesService, "pay")))


def test_prometheus_reads_back_what_the_services_did(prometheus, centre, rpc, wait):
    for service in SERVICES:
        assert getattr(rpc, service).health()["ok"] is True

    # every service is scraped and up
    wait(lambda: all(prometheus.value(f'up{{job="{s}"}}') == 1 for s in SERVICES), timeout=20,
         message="every service to be scraped")

    # the health calls, as Prometheus saw them, match what this process counted
    for service in SERVICES:
        expected = local("onewindow_entrypoint_seconds_count", service=service, entrypoint="health", kind="rpc")
        assert expected >= 1
        wait(lambda: prometheus.value(
            f'onewindow_entrypoint_seconds_count{{job="{service}", service="{service}", '
            f'entrypoint="health", kind="rpc"}}') == expected,
            timeout=20, message=f"{service}'s health calls in prometheus")

    assert services_implemented(), "intake.submit, review.decide and fees.pay are needed to drive a case"
    item, bill = drive_one_case(rpc, wait)

    received = local_sum("onewindow_intake_applications_received_total")
    assert received >= 1
    wait(lambda: prometheus.value('sum(onewindow_intake_applications_received_total{job="intake"})') == received,
         timeout=20, message="cases received in prometheus")
    assert prometheus.value(
        f'sum(onewindow_intake_applications_received_total{{job="intake", item="{item["code"]}"}})') >= 1

    # tasks open by department: a series for each department of the item
    def tasks_open():
        result = prometheus.query('max by (department) (onewindow_review_tasks_open{job="review"})')
        return {r["metric"]["department"] for r in result} >= set(item["departments"])
    wait(tasks_open, timeout=20, message="tasks open by department in prometheus")

    # fen received per department, and the day's recording rule over them
    paid = {}
    for line in bill["lines"]:
        paid[line["department"]] = paid.get(line["department"], 0) + line["amount_fen"]
    for department, fen in paid.items():
        expected = local_sum("onewindow_fees_received_fen_total", department=department)
        assert expected >= fen
        wait(lambda: prometheus.value(
            f'sum(onewindow_fees_received_fen_total{{job="fees", department="{department}"}})') == expected,
            timeout=20, message=f"fen received by {department} in prometheus")
    wait(lambda: prometheus.query("department:onewindow_fees_received_fen:increase1d"), timeout=20,
         message="the recording rule of fen received per department per day")

    # the calendar gauge the holiday alert reads
    wait(lambda: prometheus.query('onewindow_calendar_year_loaded{job="review", service="review"}'),
         timeout=20, message="the calendar gauge")

    # and the exposition itself, now that a whole case has filled it, is clean
    check_metrics_of_every_service(centre)


def check_metrics_of_every_service(centre):
    promtool = tool("promtool")
    for service, port in centre.items():
        body = get(f"http://127.0.0.1:{port}/metrics")
        assert b"onewindow_entrypoint_seconds_bucket" in body
        done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
        # exit 3 is promtool's "lint problems", 1 a parse error: both fail
        assert done.returncode == 0, f"{service}: {(done.stdout + done.stderr).decode()}"
