"""The platform is a library: `onewindow/` never imports a service, and its
modules import each other without a circle (also not through imports
written inside functions)."""
import ast
import pathlib
import subprocess
import sys

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


def test_importing_every_platform_module_loads_no_service():
    code = ("import sys, importlib\n"
            f"for m in {modules()!r}: importlib.import_module('onewindow.' + m)\n"
            "print(sorted(n for n in sys.modules if n == 'services' or n.startswith('services.')))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                         cwd=PLATFORM.parent, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


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
