"""Prometheus configuration, alert and recording rules, checked by promtool
and unit-tested with `promtool test rules`."""
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"


def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run `bash scripts/ensure-tools.sh` "
                    "(or `apt-get install prometheus`)")
    return path


def run(*args, cwd=PROMETHEUS):
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_prometheus_config_is_valid():
    out = run("check", "config", "prometheus.yml")
    assert "SUCCESS" in out


def test_rule_files_are_valid():
    out = run("check", "rules", "rules.yml", "alerts.yml")
    assert out.count("SUCCESS") == 2


@pytest.mark.parametrize("test_file", sorted(p.name for p in (PROMETHEUS / "tests").glob("*.yml")))
def test_rule_unit_tests_pass(test_file):
    out = run("test", "rules", f"tests/{test_file}")
    assert "SUCCESS" in out


def test_every_service_is_scraped_on_its_metrics_port():
    from services.registry import CENTRE
    cfg = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    for service in CENTRE.names:
        targets = [t for sc in jobs[service]["static_configs"] for t in sc["targets"]]
        assert targets == [f"{service}:{CENTRE.member(service).metrics_port}"]
    assert set(cfg["rule_files"]) == {"rules.yml", "alerts.yml"}


def test_every_alert_the_issue_asks_for_exists_and_is_unit_tested():
    wanted = {"DepartmentHasRedTasks", "CaseNeededThirdVisit", "OutboxBacklogGrowing", "EventsParked",
              "SmsFailureRateHigh", "ServiceDown", "LedgerUnbalanced", "HolidayScheduleNotLoaded",
              "InboxRetryBacklog", "MessagesRejected", "SmsStuckQueued", "SmsStuckSending", "WebhooksDeadLettered",
              "WebhookBacklogGrowing",
              "RabbitmqDown", "RabbitmqQueueBacklog", "RabbitmqUnackedHigh", "RabbitmqMemoryAlarm",
              "RabbitmqDiskAlarm", "RabbitmqConnectionChurn",
              "PostgresDown", "PostgresConnectionsNearLimit", "PostgresLocksWaiting", "PostgresDeadTuples",
              "PostgresReplicationLag", "HallQueueWaitTooLong"}
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    defined = {r["alert"] for g in alerts["groups"] for r in g["rules"]}
    assert wanted <= defined
    tested = set()
    for path in (PROMETHEUS / "tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    tested.add(case["alertname"])
    assert defined <= tested, f"alerts never shown firing in a unit test: {defined - tested}"


def test_every_recording_rule_is_unit_tested_or_a_plain_aggregation():
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    recorded = {r["record"] for g in rules["groups"] for r in g["rules"]}
    headline = {"onewindow:instant_ratio", "onewindow:instant_ratio:1d", "onewindow:completion_rate",
                "onewindow:satisfaction_rate:30d", "department:onewindow_fees_received_fen:increase1d"}
    assert headline <= recorded
    tested = set()
    for path in (PROMETHEUS / "tests").glob("*.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("promql_expr_test", []):
                # a case may test a rule inside an expression, e.g. round(rule * 1000)
                tested |= {name for name in recorded if re.search(rf"(?<![\w:]){re.escape(name)}(?![\w:])",
                                                                  case["expr"])}
    assert headline <= tested


def test_alertmanager_routes_every_team_of_every_alert():
    am = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    receivers = {r["name"] for r in am["receivers"]}
    routed = {am["route"]["receiver"]} | {r["receiver"] for r in am["route"]["routes"]}
    assert routed <= receivers
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    teams = {r["labels"]["team"] for g in alerts["groups"] for r in g["rules"]}
    matched = {m.split("=")[1].strip('"') for r in am["route"]["routes"] for m in r["matchers"] if m.startswith("team=")}
    assert teams - {"operations"} <= matched


RUNBOOK_URL = "https://onewindow.example/docs/runbook.md#"


def runbook_sections():
    """{alert name: its section's text} from docs/runbook.md (### headings)."""
    text = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
    parts = re.split(r"^### (\w+)\s*$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_every_alert_links_its_runbook_section_which_says_what_to_check_and_do():
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    sections = runbook_sections()
    for rule in (r for g in alerts["groups"] for r in g["rules"]):
        name = rule["alert"]
        assert rule["annotations"].get("runbook_url") == RUNBOOK_URL + name.lower(), name
        assert name in sections, f"docs/runbook.md has no section ### {name}"
        section = sections[name]
        assert "**Check**" in section and "**Fix**" in section, name
        assert re.search(r"`onewindow [a-z]+", section), f"{name}: no `onewindow` command in its runbook section"
    defined = {r["alert"] for g in alerts["groups"] for r in g["rules"]}
    assert set(sections) <= defined, f"runbook sections of no alert: {set(sections) - defined}"


def test_service_down_covers_every_service_and_only_services():
    from services.registry import CENTRE
    cfg = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in cfg["scrape_configs"]}
    not_services = {"rabbitmq", "postgres", "prometheus"}
    assert not_services <= jobs
    assert jobs - not_services == set(CENTRE.names)
    alerts = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    [down] = [r for g in alerts["groups"] for r in g["rules"] if r["alert"] == "ServiceDown"]
    assert down["expr"].strip() == 'up{job!~"rabbitmq|postgres|prometheus"} == 0'
