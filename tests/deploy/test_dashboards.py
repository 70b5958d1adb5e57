"""Every query of every dashboard, alert and recording rule reads a metric the
services really export (or a recording rule), and is valid PromQL."""
import importlib
import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",), "summary": ("_count", "_sum", "_created")}


def metric_names(expr):
    """The metric (and recording rule) names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)          # strings
    text = re.sub(r"\{[^}]*\}", "", text)                    # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)                   # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        after = text[match.end():].lstrip()
        if after.startswith("("):
            continue                                         # a function
        if match.group().lower() in KEYWORDS:
            continue
        names.add(match.group())
    return names


def exported_names(families=False):
    """Every series name the four services can export, from the real registry
    (with `families`, the metric names as documented: no type suffixes)."""
    from prometheus_client import REGISTRY
    from services.registry import CENTRE
    for service in CENTRE.names:
        importlib.import_module(f"services.{service}.service")
        try:
            importlib.import_module(f"services.{service}.metrics")
        except ModuleNotFoundError:
            pass
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("onewindow_"):
            if families:
                names.add(family.name)
                continue
            names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
            names |= {sample.name for sample in family.samples}
    return names


def documented_names():
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"`(onewindow_[a-z0-9_]+)`", text))


def exporter_names():
    """Series of RabbitMQ's plugin and postgres_exporter that docs/metrics.md
    lists (test_exporters.py checks the PostgreSQL ones on a real exporter)."""
    text = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    return set(re.findall(r"`((?:rabbitmq|pg)_[a-z0-9_]+)`", text))


def recorded_names():
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return {r["record"] for g in rules["groups"] for r in g["rules"]}


def dashboard_queries():
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            for target in panel.get("targets", []):
                yield path.stem, panel["title"], target["expr"]


def rule_queries():
    for name in ("rules.yml", "alerts.yml"):
        for group in yaml.safe_load((DEPLOY / "prometheus" / name).read_text())["groups"]:
            for rule in group["rules"]:
                yield name, rule.get("record") or rule.get("alert"), rule["expr"]


def test_metric_name_extraction():
    assert metric_names('sum by (department, le) (rate(onewindow_x_bucket{job="a", le!="1"}[5m])) / 100') \
        == {"onewindow_x_bucket"}
    assert metric_names("(min by (year) (a_b) == 0) and on () (month() == 12)") == {"a_b"}
    assert metric_names("department:onewindow_fees_received_fen:increase1d / -100") \
        == {"department:onewindow_fees_received_fen:increase1d"}


def test_there_are_dashboards_for_the_centre_supervision_and_the_platform():
    assert {p.stem for p in DASHBOARDS} == {"centre", "supervision", "platform"}
    for path in DASHBOARDS:
        board = json.loads(path.read_text(encoding="utf-8"))
        assert board["uid"] and board["panels"]
        assert len({p["id"] for p in board["panels"]}) == len(board["panels"])
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
            assert all(t.get("datasource", panel["datasource"]) == panel["datasource"] for t in panel["targets"])
            assert panel["targets"], panel["title"]


def test_every_dashboard_asks_which_prometheus_so_another_grafana_can_import_it():
    provisioned = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    default_uid = provisioned["datasources"][0]["uid"]
    for path in DASHBOARDS:
        variables = {v["name"]: v for v in json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", path.stem
        assert variables["datasource"]["query"] == "prometheus", path.stem
        assert variables["datasource"]["current"]["value"] == default_uid, path.stem


def test_every_documented_metric_is_exported_by_the_services():
    exported = exported_names(families=True) | exported_names()
    missing = {name for name in documented_names() if name not in exported}
    assert not missing, f"in docs/metrics.md but not exported: {sorted(missing)}"


@pytest.mark.parametrize("source,title,expr", list(dashboard_queries()) + list(rule_queries()))
def test_every_query_reads_exported_metrics_or_recording_rules(source, title, expr):
    known = exported_names() | recorded_names() | exporter_names() | {"up"}
    unknown = metric_names(expr) - known
    assert not unknown, f"{source} / {title}: {expr!r} reads {sorted(unknown)}, which nothing exports"
    assert metric_names(expr), f"{source} / {title}: {expr!r} reads no metric"


def test_dashboards_cover_what_the_issue_asks_for():
    read = {path.stem: set() for path in DASHBOARDS}
    for board, _, expr in dashboard_queries():
        read[board] |= metric_names(expr)
    assert {"onewindow:instant_ratio", "onewindow:completion_rate", "onewindow:satisfaction_rate:30d",
            "department:onewindow_fees_received_fen:increase1d", "onewindow_intake_complaints_total",
            "onewindow_intake_complaints_overdue_total", "onewindow_hall_waiting", "onewindow_hall_wait_seconds_bucket",
            "onewindow_hall_served_total", "onewindow_hall_no_shows_total", "onewindow_hall_appointments_total",
            "onewindow_hall_visits_total"} <= read["centre"]
    assert {"department:onewindow_review_tasks_open:max", "department:onewindow_review_tasks_yellow:max",
            "department:onewindow_review_tasks_red:max", "onewindow_review_deemed_approvals_total",
            "onewindow_review_vetoes_total"} <= read["supervision"]
    assert {"service:onewindow_entrypoint_seconds:p95_5m", "onewindow_entrypoint_failures_total",
            "service:onewindow_outbox_backlog:max", "service:onewindow_inbox_parked:max",
            "onewindow_notify_messages_total"} <= read["platform"]


def test_every_dashboard_query_is_valid_promql(tmp_path):
    """promtool parses each query as a recording rule."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `bash scripts/ensure-tools.sh`")
    rules = [{"record": f"check:q{i}", "expr": expr} for i, (_, _, expr) in enumerate(dashboard_queries())]
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
