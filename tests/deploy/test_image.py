"""The production image (Dockerfile): built in two stages from a base pinned
by digest, runs as a non-root user, and is healthy when the service it
serves answers `health` over RPC. No engine is needed: the Dockerfile is read
and its health check's shell command run against a stand-in PID 1."""
import json
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def instructions():
    """[(INSTRUCTION, argument text)], continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE)
    return [(m.group(1).upper(), m.group(2).strip())
            for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M) if not m.group(0).lstrip().startswith("#")]


def test_every_stage_starts_from_a_base_pinned_by_digest():
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.M))
    stages = [arg for name, arg in instructions() if name == "FROM"]
    assert len(stages) >= 2, "build and run stages"
    for stage in stages:
        image = stage.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", image), stage


def test_the_run_stage_holds_only_the_virtualenv_and_runs_as_a_user():
    run_stage = DOCKERFILE.rsplit("\nFROM ", 1)[1]
    assert "COPY --from=build /opt/onewindow /opt/onewindow" in run_stage
    assert not re.search(r"^COPY (?!--from)", run_stage, re.M), "sources go through the build stage only"
    assert "pip install" not in run_stage
    users = [arg for name, arg in instructions() if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")


def healthcheck_script():
    check = next(arg for name, arg in instructions() if name == "HEALTHCHECK")
    command = json.loads(check[check.index("CMD") + 3:].strip())
    assert command[:2] == ["sh", "-c"]
    return command[2]


def run_check(tmp_path, *pid1_argv):
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"\0".join(a.encode() for a in pid1_argv) + b"\0")
    script = healthcheck_script().replace("/proc/1/cmdline", str(cmdline)).replace("exec onewindow", "exec echo")
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=10)


def test_health_check_asks_the_served_service_over_rpc(tmp_path):
    done = run_check(tmp_path, "/opt/onewindow/bin/python", "/opt/onewindow/bin/onewindow", "serve", "fees")
    assert done.returncode == 0
    assert done.stdout.split() == ["health", "--service", "fees", "--timeout", "5"]


def test_a_container_that_serves_nothing_is_healthy(tmp_path):
    done = run_check(tmp_path, "/opt/onewindow/bin/python", "/opt/onewindow/bin/onewindow", "setup")
    assert done.returncode == 0 and done.stdout == ""


def test_the_image_installs_the_runtime_lock_only_with_its_hashes():
    installs = [arg for name, arg in instructions() if name == "RUN" and "pip install" in arg]
    locked = [arg for arg in installs if "-r requirements.txt" in arg]
    assert locked and all("--require-hashes" in arg for arg in locked)
    assert not re.search(r"^(COPY|RUN) .*requirements-test", DOCKERFILE, re.M)
    runtime = (ROOT / "requirements.txt").read_text()
    for test_only in ("pytest", "hypothesis", "kubernetes-validate", "openapi-spec-validator"):
        assert not re.search(rf"^{re.escape(test_only)}==", runtime, re.M | re.I), test_only
    for sdk in ("alibabacloud-dysmsapi20170525", "tencentcloud-sdk-python-sms"):
        assert re.search(rf"^{sdk}==\S+ \\$", runtime, re.M), sdk    # pinned, with hashes below
