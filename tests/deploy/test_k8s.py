"""deploy/k8s: several replicas of each service with probes, a set-up Job, a
three-node RabbitMQ cluster with quorum queues and a PostgreSQL primary."""
import pathlib
import shutil
import subprocess

import pytest
import yaml

from onewindow import config

K8S = pathlib.Path(__file__).resolve().parents[2] / "deploy" / "k8s"


@pytest.fixture(scope="module")
def objects():
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                assert doc["metadata"].get("namespace", "onewindow") == "onewindow" or doc["kind"] == "Namespace"
                found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


def container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("service", config.SERVICES)
def test_each_service_runs_several_replicas_with_probes(objects, service):
    deployment = objects[("Deployment", service)]
    assert deployment["spec"]["replicas"] >= 2
    c = container(deployment)
    assert c["args"] == ["serve", service]
    assert c["readinessProbe"]["exec"]["command"][:4] == ["onewindow", "health", "--service", service]
    assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    assert port == config.DEFAULT_METRICS_PORTS[service]
    assert objects[("ConfigMap", "onewindow-config")]["data"][f"{service.upper()}_METRICS_PORT"] == str(port)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert ("PodDisruptionBudget", service) in objects


@pytest.mark.parametrize("service", config.SERVICES)
def test_each_service_finds_its_broker_and_database(objects, service):
    env_from = container(objects[("Deployment", service)])["envFrom"]
    secret = objects[("Secret", "onewindow-secrets")]["stringData"]
    assert {"secretRef": {"name": "onewindow-secrets"}} in env_from
    assert {"configMapRef": {"name": "onewindow-config"}} in env_from
    assert secret["AMQP_URI"].startswith("amqp://") and "rabbitmq.onewindow.svc" in secret["AMQP_URI"]
    db = secret[f"{service.upper()}_DATABASE_URL"].rsplit("/", 1)[1]
    assert f"CREATE DATABASE {db};" in objects[("ConfigMap", "postgres-init")]["data"]["10-databases.sql"]


def test_setup_job_runs_the_setup_command(objects):
    job = objects[("Job", "onewindow-setup")]
    assert container(job)["args"] == ["setup"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def test_rabbitmq_is_a_three_node_cluster_of_quorum_queues(objects):
    broker = objects[("StatefulSet", "rabbitmq")]
    assert broker["spec"]["replicas"] == 3
    conf = objects[("ConfigMap", "rabbitmq-config")]["data"]["rabbitmq.conf"]
    assert "default_queue_type = quorum" in conf
    assert "cluster_formation.peer_discovery_backend = k8s" in conf
    assert objects[("Service", "rabbitmq-nodes")]["spec"]["clusterIP"] == "None"
    assert container(broker)["readinessProbe"] and container(broker)["livenessProbe"]


def test_postgres_has_one_primary(objects):
    pg = objects[("StatefulSet", "postgres")]
    assert pg["spec"]["replicas"] == 1
    assert objects[("Service", "postgres")]["spec"]["selector"]["role"] == "primary"
    assert container(pg)["readinessProbe"]["exec"]["command"][0] == "pg_isready"


def test_every_secret_and_config_reference_resolves(objects):
    for (kind, name), obj in objects.items():
        if kind not in ("Deployment", "StatefulSet", "Job"):
            continue
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in objects[("Secret", ref["name"])]["stringData"], (name, ref)
            for source in c.get("envFrom", []):
                for ref_kind, obj_kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if ref_kind in source:
                        assert (obj_kind, source[ref_kind]["name"]) in objects, (name, source)


def test_cluster_prometheus_config_is_valid(objects, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `bash scripts/ensure-tools.sh`")
    cfg = yaml.safe_load(objects[("ConfigMap", "prometheus-config")]["data"]["prometheus.yml"])
    # Debian builds Prometheus without Kubernetes discovery; check everything
    # else (relabelling included) with a static target in its place.
    for job in cfg["scrape_configs"]:
        assert job.pop("kubernetes_sd_configs")[0]["namespaces"]["names"] == ["onewindow"]
        job["static_configs"] = [{"targets": ["pod.onewindow:9101"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    done = subprocess.run([promtool, "check", "config", "--syntax-only", str(tmp_path / "prometheus.yml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
