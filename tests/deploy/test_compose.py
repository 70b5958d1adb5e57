"""docker-compose.yml: valid for Debian's docker-compose (no engine needed),
and wired the way the services and Prometheus expect."""
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml

from onewindow import config

ROOT = pathlib.Path(__file__).resolve().parents[2]


def compose(*args):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: run `bash scripts/ensure-tools.sh` "
                    "(Debian package `docker-compose`)")
    done = subprocess.run([binary, "-f", "docker-compose.yml", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"docker-compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def resolved():
    """The file as docker-compose itself understands it (anchors merged)."""
    return yaml.safe_load(compose("config"))


def mounts(spec):
    """Volumes as {target: source}, whichever syntax docker-compose prints."""
    found = {}
    for mount in spec.get("volumes", []):
        if isinstance(mount, str):
            source, target = mount.split(":")[:2]
        else:
            source, target = mount["source"], mount["target"]
        found[target] = source
    return found


def binds(spec):
    return {t: s for t, s in mounts(spec).items() if s.startswith("/")}


def test_compose_file_is_valid():
    compose("config", "-q")


def test_every_part_of_the_stack_is_there(resolved):
    assert set(resolved["services"]) == {"rabbitmq", "postgres", "setup", *config.SERVICES,
                                         "prometheus", "alertmanager", "grafana"}


def test_broker_and_database_have_health_checks(resolved):
    for name in ("rabbitmq", "postgres"):
        assert resolved["services"][name]["healthcheck"]["test"], name


def test_broker_makes_durable_queues_quorum_queues(resolved):
    conf = next(s for t, s in binds(resolved["services"]["rabbitmq"]).items() if t.startswith("/etc/rabbitmq/"))
    text = pathlib.Path(conf).read_text()
    assert re.search(r"^default_queue_type\s*=\s*quorum$", text, re.M)
    assert resolved["services"]["rabbitmq"]["image"].startswith("rabbitmq:3.13")  # first with default_queue_type


def test_one_database_per_service_is_created(resolved):
    init = next(s for t, s in binds(resolved["services"]["postgres"]).items() if "docker-entrypoint-initdb.d" in t)
    created = set(re.findall(r"CREATE DATABASE (\w+)", pathlib.Path(init).read_text()))
    env = resolved["services"]["intake"]["environment"]
    wanted = {env[f"{s.upper()}_DATABASE_URL"].rsplit("/", 1)[1] for s in config.SERVICES}
    assert wanted == created


@pytest.mark.parametrize("service", config.SERVICES)
def test_each_service_waits_for_healthy_dependencies_and_setup(resolved, service):
    spec = resolved["services"][service]
    assert spec["command"] == ["serve", service]
    assert spec["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert spec["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert spec["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert spec["build"]["context"] == str(ROOT)
    assert spec["image"] == resolved["services"]["setup"]["image"]          # one image
    env = spec["environment"]
    assert env["AMQP_URI"].startswith("amqp://") and "@rabbitmq:5672" in env["AMQP_URI"]
    assert "@postgres:5432/" in env[f"{service.upper()}_DATABASE_URL"]
    assert "--service" in spec["healthcheck"]["test"] and service in spec["healthcheck"]["test"]


def test_setup_runs_once_before_the_services(resolved):
    setup = resolved["services"]["setup"]
    assert setup["command"] == ["setup"]
    assert setup["restart"] == "no"
    assert setup["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def test_prometheus_scrapes_the_ports_the_services_serve_on(resolved):
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]}
    for service in config.SERVICES:
        port = resolved["services"][service]["environment"][f"{service.upper()}_METRICS_PORT"]
        assert targets[service] == [f"{service}:{port}"]
    mounted = binds(resolved["services"]["prometheus"])
    for name in ("prometheus.yml", "rules.yml", "alerts.yml"):
        assert pathlib.Path(mounted[f"/etc/prometheus/{name}"]) == ROOT / "deploy" / "prometheus" / name


def test_every_mounted_file_exists(resolved):
    for name, spec in resolved["services"].items():
        for target, source in binds(spec).items():
            assert pathlib.Path(source).exists(), f"{name}: {source} for {target}"


def test_grafana_is_provisioned_with_the_dashboards(resolved):
    mounted = binds(resolved["services"]["grafana"])
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/onewindow.yml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert pathlib.Path(mounted[path]) == ROOT / "deploy" / "grafana" / "dashboards"
    assert pathlib.Path(mounted["/etc/grafana/provisioning"]) == ROOT / "deploy" / "grafana" / "provisioning"


def test_the_image_runs_the_operator_command():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["onewindow"\]$', dockerfile, re.M)
    for copied in ("onewindow", "services", "requirements.txt", "pyproject.toml"):
        assert re.search(rf"^COPY .*{copied}", dockerfile, re.M), copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored
