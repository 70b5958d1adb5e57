"""docker-compose.yml: valid for Debian's docker-compose (no engine needed),
and wired the way the services and Prometheus expect."""
import os
import pathlib
import re
import shutil
import subprocess
import uuid

import pytest
import yaml

from services.registry import CENTRE

from .credentials import credential_problems, exporter_problems, setup_problems

ROOT = pathlib.Path(__file__).resolve().parents[2]


# the operator supplies the passwords: there are no defaults; each differs,
# so a service given another's (or the administrator's) shows
ADMIN_SECRETS = {"OW_BROKER_PASSWORD": uuid.uuid4().hex, "OW_DB_PASSWORD": uuid.uuid4().hex}
SECRETS = {**ADMIN_SECRETS, "OW_GRAFANA_PASSWORD": uuid.uuid4().hex, "OW_PROBE_PASSWORD": uuid.uuid4().hex,
           "OW_MONITOR_PASSWORD": uuid.uuid4().hex, "OW_PORTAL_SECRET": uuid.uuid4().hex,
           **{f"{s.upper()}_{kind}_PASSWORD": uuid.uuid4().hex for s in CENTRE.names for kind in ("BROKER", "DATABASE")}}
ADMIN_USERS = ("onewindow", "guest", "postgres")


def compose(*args, env=None, check=True):
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.fail("docker-compose is not installed: run `bash scripts/ensure-tools.sh` "
                    "(Debian package `docker-compose`)")
    done = subprocess.run([binary, "-f", "docker-compose.yml", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **SECRETS) if env is None else env)
    if not check:
        return done
    assert done.returncode == 0, f"docker-compose {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_compose_refuses_to_start_without_each_of_the_operators_passwords():
    text = (ROOT / "docker-compose.yml").read_text()
    assert ":-onewindow}" not in text and "guest" not in text
    # every password is read as ${NAME:?...} (required), and each is one the operator supplies
    references = re.findall(r"\$\{(\w+)(:?[?-]?)", text)
    secrets = [(name, form) for name, form in references if name in SECRETS or name.endswith("PASSWORD")]
    assert {name for name, _ in secrets} == set(SECRETS)
    assert {form for _, form in secrets} == {":?"}
    last = f"{CENTRE.names[-1].upper()}_DATABASE_PASSWORD"
    done = compose("config", "-q", env={k: v for k, v in dict(os.environ, **SECRETS).items() if k != last},
                   check=False)
    assert done.returncode != 0 and last in done.stdout + done.stderr


def test_broker_and_database_ports_bind_to_the_loopback_only(resolved):
    for service in ("rabbitmq", "postgres"):
        for port in resolved["services"][service].get("ports", []):
            published = port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port.get('published')}"
            assert str(published).startswith("127.0.0.1:"), (service, port)


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
    assert set(resolved["services"]) == {"rabbitmq", "postgres", "setup", *CENTRE.names,
                                         "postgres-exporter", "prometheus", "alertmanager", "grafana"}


def test_prometheus_scrapes_the_broker_plugin_and_postgres_exporter(resolved):
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]}
    assert targets["rabbitmq"] == ["rabbitmq:15692"]
    assert "15692" in resolved["services"]["rabbitmq"]["expose"]
    plugins = pathlib.Path(binds(resolved["services"]["rabbitmq"])["/etc/rabbitmq/enabled_plugins"]).read_text()
    assert "rabbitmq_prometheus" in plugins
    conf = pathlib.Path(binds(resolved["services"]["rabbitmq"])["/etc/rabbitmq/conf.d/20-onewindow.conf"]).read_text()
    assert re.search(r"^prometheus\.return_per_object_metrics\s*=\s*true$", conf, re.M)
    exporter = resolved["services"]["postgres-exporter"]
    assert targets["postgres"] == ["postgres-exporter:9187"] and "9187" in exporter["expose"]
    assert exporter["environment"]["DATA_SOURCE_URI"].startswith("postgres:5432/")
    dockerfile = (pathlib.Path(exporter["build"]["context"]) / "Dockerfile").read_text()
    assert "prometheus-postgres-exporter=" in dockerfile and "queries.yaml" in dockerfile
    assert re.search(r"^FROM debian:\S+@sha256:[0-9a-f]{64}$", dockerfile, re.M)


def test_broker_and_database_have_health_checks(resolved):
    for name in ("rabbitmq", "postgres"):
        assert resolved["services"][name]["healthcheck"]["test"], name


def test_the_services_queues_are_quorum_and_reply_queues_keep_the_default(resolved):
    conf = binds(resolved["services"]["rabbitmq"])["/etc/rabbitmq/conf.d/20-onewindow.conf"]
    assert not re.search(r"^default_queue_type", pathlib.Path(conf).read_text(), re.M)
    for name in ("setup", *CENTRE.names):
        assert resolved["services"][name]["environment"]["OW_QUEUE_TYPE"] == "quorum", name


def test_one_database_per_service_is_created(resolved):
    init = next(s for t, s in binds(resolved["services"]["postgres"]).items() if "docker-entrypoint-initdb.d" in t)
    created = set(re.findall(r"CREATE DATABASE (\w+)", pathlib.Path(init).read_text()))
    env = resolved["services"]["setup"]["environment"]
    wanted = {env[f"{s.upper()}_DATABASE_URL"].rsplit("/", 1)[1] for s in CENTRE.names}
    assert wanted == created


@pytest.mark.parametrize("service", CENTRE.names)
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
    assert setup["command"] == ["setup", "--service-users"]
    assert setup["restart"] == "no"
    assert setup["depends_on"]["rabbitmq"]["condition"] == "service_healthy"


def service_environments(resolved):
    return {service: resolved["services"][service]["environment"] for service in CENTRE.names}


def test_each_service_connects_as_its_own_user_and_role_and_never_as_the_administrator(resolved):
    assert credential_problems(service_environments(resolved), ADMIN_USERS, ADMIN_SECRETS.values()) == []
    broker = resolved["services"]["rabbitmq"]["environment"]
    database = resolved["services"]["postgres"]["environment"]
    assert {broker["RABBITMQ_DEFAULT_USER"], database["POSTGRES_USER"]} <= set(ADMIN_USERS)


def test_the_setup_creates_the_users_and_roles_the_services_connect_as(resolved):
    setup = resolved["services"]["setup"]["environment"]
    assert setup_problems(setup, service_environments(resolved), ADMIN_USERS) == []
    # users and grants through the management API, as the broker's administrator
    assert setup["OW_ACCESS_BACKEND"] == "http" and setup["OW_RABBITMQ_MANAGEMENT_URL"] == "http://rabbitmq:15672"
    broker = resolved["services"]["rabbitmq"]["environment"]
    assert (setup["OW_RABBITMQ_ADMIN_USER"], setup["OW_RABBITMQ_ADMIN_PASSWORD"]) == \
        (broker["RABBITMQ_DEFAULT_USER"], broker["RABBITMQ_DEFAULT_PASS"])


def test_the_exporter_connects_as_the_monitoring_role_the_setup_creates(resolved):
    exporter = resolved["services"]["postgres-exporter"]
    setup = resolved["services"]["setup"]["environment"]
    assert exporter_problems(exporter["environment"], setup, ADMIN_USERS, ADMIN_SECRETS.values()) == []
    assert exporter["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_an_exporter_connecting_as_the_administrator_is_caught(resolved):
    setup = resolved["services"]["setup"]["environment"]
    admin = {"DATA_SOURCE_URI": "postgres:5432/postgres", "DATA_SOURCE_USER": "onewindow",
             "DATA_SOURCE_PASS": ADMIN_SECRETS["OW_DB_PASSWORD"]}
    problems = "\n".join(exporter_problems(admin, setup, ADMIN_USERS, ADMIN_SECRETS.values()))
    assert "the exporter connects as 'onewindow'" in problems
    assert "another password" in problems and "an administrator's password" in problems


def test_the_rating_links_key_is_notifys_and_the_portals_alone(resolved):
    envs = service_environments(resolved)
    holders = {service for service, env in envs.items() if "OW_PORTAL_SECRET" in env}
    assert holders == {"notify", "portal"}
    assert envs["notify"]["OW_PORTAL_SECRET"] == envs["portal"]["OW_PORTAL_SECRET"]


def test_a_service_sharing_a_user_or_using_the_administrator_is_caught(resolved):
    """The check above can fail: each way of getting it wrong is named."""
    envs = {s: dict(env) for s, env in service_environments(resolved).items()}
    envs["review"]["AMQP_URI"] = envs["intake"]["AMQP_URI"]
    envs["fees"]["FEES_DATABASE_URL"] = resolved["services"]["setup"]["environment"]["FEES_DATABASE_URL"]
    envs["notify"]["OW_ADMIN_DATABASE_URL"] = resolved["services"]["setup"]["environment"]["OW_ADMIN_DATABASE_URL"]
    problems = "\n".join(credential_problems(envs, ADMIN_USERS, ADMIN_SECRETS.values()))
    assert "review connects to the broker as 'ow-intake'" in problems
    assert "review and intake share a broker user" in problems
    assert "fees uses the administrator's database role 'onewindow'" in problems
    assert "notify holds what only the set-up may: ['OW_ADMIN_DATABASE_URL']" in problems
    assert "notify holds an administrator's password" in problems


def test_prometheus_scrapes_the_ports_the_services_serve_on(resolved):
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape["scrape_configs"]}
    for service in CENTRE.names:
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


def test_the_cloud_sms_settings_reach_notify_from_the_environment(resolved):
    from services.notify.clouds import CloudSettings
    env = resolved["services"]["notify"]["environment"]
    for provider, prefix in (("aliyun", "ALIYUN_SMS_"), ("tencent", "TENCENT_SMS_")):
        needed = {prefix + "KEY_ID", prefix + "KEY_SECRET", prefix + "TEMPLATES", prefix + "RECEIPT_TOKEN"}
        assert needed <= set(env), provider
        assert CloudSettings.load(provider, {k: v for k, v in env.items() if k.startswith(prefix)}).problems()
    assert "TENCENT_SMS_APP_ID" in env and "SMS_FALLBACK_PROVIDER" in env


def test_the_gateway_alone_is_on_the_government_network_and_published_only_there(resolved):
    on_government = {name for name, spec in resolved["services"].items() if "government" in (spec.get("networks") or {})}
    assert on_government == {"gateway"}
    published = resolved["services"]["gateway"]["ports"]
    assert published and all((p.get("host_ip") if isinstance(p, dict) else p.split(":")[0]) not in ("", "0.0.0.0")
                             for p in published), published
