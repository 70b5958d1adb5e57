"""deploy/k8s: several replicas of each service with probes, a set-up Job, a
three-node RabbitMQ cluster with quorum queues and a PostgreSQL primary."""
import copy
import json
import pathlib
import re
import shutil
import subprocess

import pytest
import yaml
from services.registry import CENTRE

from .credentials import credential_problems, exporter_problems, setup_problems


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


README = K8S.parent / "README.md"
ONEWINDOW_IMAGE_USER = 10001     # the Dockerfile's USER


SECRETS_SCRIPT = K8S / "create-secrets.sh"
ADMIN_SECRET = "onewindow-admin"
ADMIN_USERS = ("onewindow", "guest", "postgres")
FAKE_KUBECTL = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["KUBECTL_LOG"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def run_secrets_script(directory):
    """{secret name: {key: value}} as deploy/k8s/create-secrets.sh (the
    command deploy/README.md documents) creates them, with a kubectl that
    records what it is asked."""
    directory.mkdir(exist_ok=True)
    kubectl = directory / "kubectl"
    kubectl.write_text(FAKE_KUBECTL)
    kubectl.chmod(0o755)
    log = directory / "kubectl.log"
    done = subprocess.run(["bash", str(SECRETS_SCRIPT)], capture_output=True, text=True, timeout=60,
                          env={"PATH": f"{directory}:/usr/bin:/bin", "KUBECTL_LOG": str(log)})
    assert done.returncode == 0 and not done.stdout, done.stdout + done.stderr   # prints no password
    secrets = {}
    for line in log.read_text().splitlines():
        args = json.loads(line)
        assert args[:5] == ["-n", "onewindow", "create", "secret", "generic"], args
        literals = [a.split("=", 1)[1] for a in args[6:]]
        assert all(a.startswith("--from-literal=") for a in args[6:]), args
        secrets[args[5]] = dict(item.split("=", 1) for item in literals)
    return secrets


@pytest.fixture(scope="module")
def created_secrets(tmp_path_factory):
    return run_secrets_script(tmp_path_factory.mktemp("kubectl"))


def pod_environment(objects, obj, secrets):
    """What a workload's container sees: its ConfigMaps, Secrets and env."""
    env = {}
    c = container(obj)
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env.update(objects[("ConfigMap", source["configMapRef"]["name"])]["data"])
        if "secretRef" in source:
            ref = source["secretRef"]
            assert ref["name"] in secrets or ref.get("optional"), ref
            env.update(secrets.get(ref["name"], {}))
    for item in c.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        env[item["name"]] = secrets[ref["name"]][ref["key"]] if ref else item.get("value")
    return env


def workloads(objects):
    return {name: obj for (kind, name), obj in objects.items() if kind in ("Deployment", "StatefulSet", "Job")}


def container(obj):
    return obj["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("service", CENTRE.names)
def test_each_service_runs_several_replicas_with_probes(objects, service):
    deployment = objects[("Deployment", service)]
    assert deployment["spec"]["replicas"] >= 2
    c = container(deployment)
    assert c["args"] == ["serve", service]
    assert c["readinessProbe"]["exec"]["command"][:4] == ["onewindow", "health", "--service", service]
    assert c["livenessProbe"]["httpGet"]["path"] == "/metrics"
    port = {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"]
    assert port == CENTRE.member(service).metrics_port
    assert objects[("ConfigMap", "onewindow-config")]["data"][f"{service.upper()}_METRICS_PORT"] == str(port)
    assert deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    assert ("PodDisruptionBudget", service) in objects


@pytest.mark.parametrize("service", CENTRE.names)
def test_each_service_finds_its_broker_and_database(objects, created_secrets, service):
    env_from = container(objects[("Deployment", service)])["envFrom"]
    assert {"secretRef": {"name": f"onewindow-{service}"}} in env_from
    assert {"configMapRef": {"name": "onewindow-config"}} in env_from
    env = pod_environment(objects, objects[("Deployment", service)], created_secrets)
    assert env["AMQP_URI"].startswith("amqp://") and "@rabbitmq.onewindow.svc:5672/" in env["AMQP_URI"]
    db = env[f"{service.upper()}_DATABASE_URL"].rsplit("/", 1)[1]
    assert f"CREATE DATABASE {db};" in objects[("ConfigMap", "postgres-init")]["data"]["10-databases.sql"]


def test_setup_job_runs_the_setup_command(objects):
    job = objects[("Job", "onewindow-setup")]
    assert container(job)["args"] == ["setup", "--service-users"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("OnFailure", "Never")


def service_environments(objects, secrets):
    return {service: pod_environment(objects, objects[("Deployment", service)], secrets) for service in CENTRE.names}


def admin_passwords(secrets):
    admin = secrets[ADMIN_SECRET]
    return (admin["RABBITMQ_DEFAULT_PASS"], admin["POSTGRES_PASSWORD"], admin["RABBITMQ_ERLANG_COOKIE"])


def test_each_service_connects_as_its_own_user_and_role_and_never_as_the_administrator(objects, created_secrets):
    envs = service_environments(objects, created_secrets)
    assert credential_problems(envs, ADMIN_USERS, admin_passwords(created_secrets)) == []
    # only the set-up Job, the broker and the database read the administrator's Secret
    readers = {name for name, obj in workloads(objects).items()
               if ADMIN_SECRET in json.dumps(obj["spec"]["template"]["spec"])}
    assert readers == {"onewindow-setup", "rabbitmq", "postgres"}


def test_the_exporter_connects_as_the_monitoring_role_the_setup_job_creates(objects, created_secrets):
    exporter = pod_environment(objects, objects[("Deployment", "postgres-exporter")], created_secrets)
    setup = pod_environment(objects, objects[("Job", "onewindow-setup")], created_secrets)
    assert exporter_problems(exporter, setup, ADMIN_USERS, admin_passwords(created_secrets)) == []
    readers = {name for name, obj in workloads(objects).items()
               if "onewindow-monitor" in json.dumps(obj["spec"]["template"]["spec"])}
    assert readers == {"postgres-exporter"}


def test_the_setup_job_creates_the_users_and_roles_the_services_connect_as(objects, created_secrets):
    job = objects[("Job", "onewindow-setup")]
    setup = pod_environment(objects, job, created_secrets)
    assert setup_problems(setup, service_environments(objects, created_secrets), ADMIN_USERS) == []
    broker = pod_environment(objects, objects[("StatefulSet", "rabbitmq")], created_secrets)
    assert (setup["OW_RABBITMQ_ADMIN_USER"], setup["OW_RABBITMQ_ADMIN_PASSWORD"]) == \
        (broker["RABBITMQ_DEFAULT_USER"], broker["RABBITMQ_DEFAULT_PASS"])
    assert setup["OW_ACCESS_BACKEND"] == "http" and setup["OW_RABBITMQ_MANAGEMENT_URL"].endswith(":15672")
    database = pod_environment(objects, objects[("StatefulSet", "postgres")], created_secrets)
    assert setup["OW_ADMIN_DATABASE_URL"].startswith(f"postgresql://{database['POSTGRES_USER']}:"
                                                     f"{database['POSTGRES_PASSWORD']}@")


def test_the_rating_links_key_is_notifys_and_the_portals_alone(objects, created_secrets):
    envs = service_environments(objects, created_secrets)
    holders = {service for service, env in envs.items() if "OW_PORTAL_SECRET" in env}
    assert holders == {"notify", "portal"}
    assert envs["notify"]["OW_PORTAL_SECRET"] == envs["portal"]["OW_PORTAL_SECRET"]


def test_a_service_reading_another_services_secret_is_caught(objects, created_secrets):
    review = copy.deepcopy(objects[("Deployment", "review")])
    container(review)["envFrom"] = [{"secretRef": {"name": "onewindow-intake"}}]
    fees = copy.deepcopy(objects[("Deployment", "fees")])
    container(fees)["envFrom"] = [{"secretRef": {"name": ADMIN_SECRET}}]
    envs = dict(service_environments(objects, created_secrets),
                review=pod_environment(objects, review, created_secrets),
                fees=pod_environment(objects, fees, created_secrets))
    problems = "\n".join(credential_problems(envs, ADMIN_USERS, admin_passwords(created_secrets)))
    assert "review and intake share a broker user" in problems
    assert "fees connects to the broker as 'onewindow'" in problems
    assert "fees holds what only the set-up may" in problems


def test_the_readme_documents_the_secrets_script():
    assert "bash deploy/k8s/create-secrets.sh" in README.read_text()


def test_rabbitmq_is_a_three_node_cluster_of_quorum_queues(objects):
    broker = objects[("StatefulSet", "rabbitmq")]
    assert broker["spec"]["replicas"] == 3
    conf = objects[("ConfigMap", "rabbitmq-config")]["data"]["rabbitmq.conf"]
    assert not re.search(r"^\s*default_queue_type", conf, re.M)      # reply queues stay classic
    assert objects[("ConfigMap", "onewindow-config")]["data"]["OW_QUEUE_TYPE"] == "quorum"
    assert "cluster_formation.peer_discovery_backend = k8s" in conf
    assert objects[("Service", "rabbitmq-nodes")]["spec"]["clusterIP"] == "None"
    assert container(broker)["readinessProbe"] and container(broker)["livenessProbe"]


def test_postgres_has_one_primary(objects):
    pg = objects[("StatefulSet", "postgres")]
    assert pg["spec"]["replicas"] == 1
    assert objects[("Service", "postgres")]["spec"]["selector"]["role"] == "primary"
    assert container(pg)["readinessProbe"]["exec"]["command"][0] == "pg_isready"


def test_every_secret_and_config_reference_resolves(objects, created_secrets):
    for name, obj in workloads(objects).items():
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in created_secrets.get(ref["name"], {}), (name, ref)
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert ("ConfigMap", source["configMapRef"]["name"]) in objects, (name, source)
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in created_secrets or source["secretRef"].get("optional"), \
                        (name, source)


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


KUBERNETES_VERSION = "1.30.0"


def test_every_manifest_validates_against_the_kubernetes_schemas():
    """kubernetes-validate checks each object against the OpenAPI schemas of
    the Kubernetes release it bundles (offline), strictly: an unknown or
    misspelt field fails, not only a missing one."""
    import kubernetes_validate
    problems = []
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                problems.append(f"{path.name} {doc['kind']}/{doc['metadata']['name']}: "
                                f"{'.'.join(map(str, exc.path))}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_the_validator_refuses_a_misspelt_field():
    import kubernetes_validate
    bad = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "onewindow"},
           "dta": {"a": "b"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_the_gateway_is_reached_from_the_government_network_and_the_internet_only_for_receipts(objects):
    policy = objects[("NetworkPolicy", "gateway-government-side")]
    gateway = objects[("Deployment", "gateway")]
    assert policy["spec"]["podSelector"]["matchLabels"] == gateway["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    for rule in policy["spec"]["ingress"]:
        assert rule["from"] and rule["ports"], rule            # no rule open to everyone or every port
    ingress = objects[("Ingress", "sms-receipts")]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"], p["backend"]["service"]["name"]) for p in paths] == \
        [("/sms/receipts/", "Prefix", "gateway")]
    assert ingress["spec"]["tls"]


def test_no_secret_is_committed(objects):
    assert not [key for key in objects if key[0] == "Secret"]
    for path in sorted(K8S.glob("*.yaml")):
        text = path.read_text()
        assert not re.search(r"change-me|://[^:/\s]+:[^@\s$]+@", text), path.name      # no password in a URL
        for doc in yaml.safe_load_all(text):
            for c in (doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                for env in c.get("env", []):
                    if re.search(r"PASS|COOKIE|SECRET|TOKEN|KEY", env["name"]):
                        assert "valueFrom" in env, (path.name, env)


def test_the_secrets_script_holds_no_literal_password(created_secrets, tmp_path):
    """Run again, the script makes every password anew: none is written in it."""
    again = run_secrets_script(tmp_path)
    assert again.keys() == created_secrets.keys()
    for name, secret in created_secrets.items():
        for key, value in secret.items():
            if key in ("RABBITMQ_DEFAULT_USER", "OW_RABBITMQ_ADMIN_USER"):
                continue
            assert again[name][key] != value, (name, key)


def test_every_pod_runs_unprivileged_on_a_read_only_root(objects):
    for name, obj in workloads(objects).items():
        pod = obj["spec"]["template"]["spec"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True and context["runAsUser"] > 0, name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert context["fsGroup"] == context["runAsGroup"], name
        writable = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for c in pod["containers"] + pod.get("initContainers", []):
            if c["image"].startswith("onewindow:"):
                assert context["runAsUser"] == ONEWINDOW_IMAGE_USER, name
                assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"] and "tmp" in writable, name
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"] == {"drop": ["ALL"]}, (name, c["name"])
            assert sc.get("runAsUser", 1) != 0 and not sc.get("privileged"), (name, c["name"])


def _sources(policy, port):
    """The `from` clauses of the policy's rules that open `port`."""
    return [source for rule in policy["spec"]["ingress"] if any(p["port"] == port for p in rule["ports"])
            for source in rule["from"]]


def _names(source):
    """The app.kubernetes.io/name values a pod selector admits."""
    selector = source["podSelector"]
    names = set()
    if "app.kubernetes.io/name" in selector.get("matchLabels", {}):
        names.add(selector["matchLabels"]["app.kubernetes.io/name"])
    for expression in selector.get("matchExpressions", []):
        assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
        names.update(expression["values"])
    return names


def _selects(policy, obj):
    labels = obj["spec"]["template"]["metadata"]["labels"]
    selector = policy["spec"]["podSelector"]
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
        labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _policies(objects, obj):
    return [p for (kind, _), p in objects.items() if kind == "NetworkPolicy" and _selects(p, obj)]


def test_only_the_services_reach_postgres(objects):
    policies = _policies(objects, objects[("StatefulSet", "postgres")])
    assert policies
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        for rule in policy["spec"]["ingress"]:
            assert [p["port"] for p in rule["ports"]] == [5432]
            for source in rule["from"]:
                assert set(source) == {"podSelector"}, source       # no namespace, no address range
    allowed = set().union(*(_names(s) for p in policies for s in _sources(p, 5432)))
    assert allowed == set(CENTRE.names) | {"onewindow-setup", "postgres-exporter"}


def test_only_known_clients_reach_the_broker(objects):
    policies = _policies(objects, objects[("StatefulSet", "rabbitmq")])
    assert policies
    amqp = [s for p in policies for s in _sources(p, 5672)]
    for source in amqp:
        assert "ipBlock" not in source and source["podSelector"], source
    by_name = set().union(*(_names(s) for s in amqp if "namespaceSelector" not in s))
    assert by_name == set(CENTRE.names) | {"gateway", "onewindow-setup", "rabbitmq"}
    departments = [s for s in amqp if "namespaceSelector" in s]
    assert [s["podSelector"] for s in departments] == [{"matchLabels": {"onewindow.gov/broker-client": "department"}}]
    for port in (15692,):
        assert [_names(s) for p in policies for s in _sources(p, port)] == [{"prometheus"}]


def test_prometheus_reaches_every_metrics_port(objects):
    for name, obj in workloads(objects).items():
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for port in c.get("ports", []):
                if port["name"] not in ("metrics", "prometheus"):
                    continue
                policies = _policies(objects, obj)
                assert policies, name
                assert any("prometheus" in _names(s) for p in policies for s in _sources(p, port["containerPort"])), name
