"""The Node.js and Java clients' worked examples against the running centre
(submit a case, approve every task, pay, read the result), and the wire's
Python example from docs/wire.md. node and a JDK are installed by
scripts/ensure-clients.sh (make test)."""
import json
import os
import pathlib
import re
import subprocess
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def run(command, env, cwd=ROOT, timeout=180):
    result = subprocess.run(command, cwd=cwd, env=dict(os.environ, **env), capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def assert_walked_through(steps, transport):
    kinds = [s["step"] for s in steps]
    assert kinds[0] == "refused" and {"channel", "applicant.phone"} <= set(steps[0]["problems"])
    assert "submitted" in kinds and "approved" in kinds and "paid" in kinds
    assert steps[-1] == {"step": "result", "application_no": steps[1]["application_no"], "status": "completed",
                         "transport": transport}


def principals(gateway, token, prefix):
    """{variable: principal}: a window, a cashier and every department of the
    example's item, each registered with its role."""
    item = next(i for i in gateway.call("intake", "list_items") if i["code"] == "ENT-EST")
    tag = uuid.uuid4().hex[:6]
    names = {f"{prefix}_WINDOW": (f"client-{tag}-window", "window", None),
             f"{prefix}_CASHIER": (f"client-{tag}-cashier", "cashier", None)}
    for code in item["departments"]:
        names[f"{prefix}_DEPARTMENT_{code}"] = (f"client-{tag}-{code}", "department", code)
    return names


@pytest.fixture(scope="module")
def gateway_env(centre, gateway, token):
    return dict({"OW_GATEWAY_URL": centre},
                **{variable: token(name, role, department)
                   for variable, (name, role, department) in principals(gateway, token, "OW_TOKEN").items()})


def test_node_example_over_http(gateway_env):
    assert_walked_through(run(["node", "clients/node/example.js"], gateway_env), "http")


def test_node_example_over_amqp(centre, gateway, token, platform_env):
    # the sandbox's caller may set any principal's user_id, as a drill's router does
    env = {"AMQP_URI": platform_env["sandbox"].caller_uri}
    for variable, (name, role, department) in principals(gateway, token, "OW_AMQP_USER").items():
        token(name, role, department)  # registers the principal with its role
        env[variable] = name
    assert_walked_through(run(["node", "clients/node/example.js", "--amqp"], env), "amqp")


def test_java_example_over_http(gateway_env, tmp_path):
    sources = sorted(str(p) for p in (ROOT / "clients/java/src/main/java").rglob("*.java"))
    run(["javac", "-encoding", "UTF-8", "--release", "17", "-d", str(tmp_path), *sources], {})
    steps = run(["java", "-Dfile.encoding=UTF-8", "-cp", str(tmp_path), "org.onewindow.client.Example"], gateway_env)
    assert_walked_through(steps, "http")


def test_the_python_example_of_the_wire_document_works_as_written(centre, platform_env):
    text = (ROOT / "docs/wire.md").read_text(encoding="utf-8")
    section = text[text.index("## 8."):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    # the test broker's vhost and user instead of a department's
    code = code.replace("amqp://ow-dept-PSB:secret@127.0.0.1:5672/", platform_env["amqp_uri"])
    code = code.replace('user_id="ow-dept-PSB"', 'user_id="guest"')
    scope = {}
    exec(compile(code, "docs/wire.md", "exec"), scope)
    assert isinstance(scope["tasks"], list)
