"""The platform is a library: `onewindow/` never imports a service, and its
modules import each other without a circle (also not through imports
written inside functions). A process serving one service loads that
service's code and no other's."""
import ast
import json
import pathlib
import subprocess
import sys

import pytest

PLATFORM = pathlib.Path(__file__).resolve().parents[2] / "onewindow"


def modules():
    return sorted(p.stem for p in PLATFORM.glob("*.py") if p.stem not in ("__init__", "__main__"))


def imported_names(path):
    """Every module a file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from . import x / from .x import y
                names.update(f"onewindow.{node.module}" if node.module else f"onewindow.{a.name}"
                             for a in node.names)
                if node.module is None:
                    continue
            else:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_no_platform_module_names_a_service():
    for path in PLATFORM.glob("*.py"):
        offending = sorted(n for n in imported_names(path) if n == "services" or n.startswith("services."))
        assert not offending, f"{path.name} imports {offending}"
        assert "services." not in path.read_text(encoding="utf-8").replace("# services.", ""), path.name


def test_platform_imports_form_no_circle():
    own = set(modules())
    graph = {m: sorted({n.split(".")[1] for n in imported_names(PLATFORM / f"{m}.py")
                        if n.startswith("onewindow.") and n.split(".")[1] in own} - {m}) for m in own}
    visiting, done = [], set()

    def visit(m):
        if m in done:
            return
        assert m not in visiting, "import circle: " + " -> ".join(visiting[visiting.index(m):] + [m])
        visiting.append(m)
        for n in graph[m]:
            visit(n)
        visiting.pop()
        done.add(m)

    for m in sorted(own):
        visit(m)


# One interpreter imports every platform module, then forks a child per
# service that goes through `onewindow serve <service>` up to the point where
# the container's extensions are set up and it would start consuming.
PROBE = """
import importlib, json, os, sys
import nameko.runners

def services_loaded():
    return sorted({n.split(".")[1] for n in sys.modules if n.startswith("services.")})

for m in MODULES:
    importlib.import_module("onewindow." + m)
print(json.dumps(["onewindow", services_loaded()]), flush=True)

def set_up_and_stop(runner):
    for container in runner.containers:
        for extension in container.extensions:
            extension.setup()
    print(json.dumps([NAME, services_loaded()]), flush=True)
    os._exit(0)

nameko.runners.ServiceRunner.start = set_up_and_stop
from onewindow import cli
for NAME in NAMES:
    if os.fork() == 0:
        os._exit(10 + (cli.main(["serve", NAME]) or 0))  # only reached when serving failed
    os.wait()
"""


# The gateway offers every other service's RPC methods over HTTP and builds its
# routes from their classes at start: it alone reads the others' code.
READS_EVERY_SERVICE = {"gateway"}


@pytest.fixture(scope="module")
def loaded():
    """{"onewindow" or a service: the service packages loaded}."""
    from services.registry import CENTRE
    names = [n for n in CENTRE.names if n not in READS_EVERY_SERVICE]
    code = f"MODULES = {modules()!r}\nNAMES = {names!r}\n" + PROBE
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                         cwd=PLATFORM.parent, timeout=120)
    assert out.returncode == 0, out.stderr
    found = dict(json.loads(line) for line in out.stdout.splitlines())
    assert set(found) == {"onewindow", *names}, out.stderr
    return found


def test_importing_every_platform_module_loads_no_service(loaded):
    assert loaded["onewindow"] == []


def test_serving_one_service_loads_no_other_service(loaded):
    for name, packages in loaded.items():
        if name != "onewindow":
            assert packages == sorted({name, "registry"}), f"serving {name} loads {packages}"


# The places allowed to touch the environment directly: the settings registry,
# the sandbox (it sets the variables for a run) and the package's psycopg switch.
ENVIRONMENT_OWNERS = {"onewindow/config.py", "onewindow/sandbox.py", "onewindow/__init__.py"}


def test_settings_are_read_through_the_registry_only():
    root = PLATFORM.parent
    readers = []
    for path in sorted([*PLATFORM.glob("*.py"), *(root / "services").rglob("*.py")]):
        name = str(path.relative_to(root))
        if name in ENVIRONMENT_OWNERS:
            continue
        text = path.read_text(encoding="utf-8")
        if "os.environ" in text or "os.getenv" in text:
            readers.append(name)
    assert readers == [], f"read the environment through onewindow.config.Setting instead: {readers}"
