"""The library stands alone: ``asmg_tf`` imports none of its applications, and no package has an import circle."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("asmg_tf", "pipeline", "serving", "asmg_cli")
APPLICATIONS = ("pipeline", "serving", "asmg_cli")


def _modules(package: str) -> dict[str, str]:
    """Dotted module name -> file of every module of ``package``."""
    out = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[: -len(".py")].replace(os.sep, ".")
                out[rel.removesuffix(".__init__")] = os.path.join(folder, name)
    return out


def _imports(path: str, *, top_level_only: bool) -> set[str]:
    """Modules imported by the file (``from x import y`` counts as x and x.y); optionally module level only."""
    tree = ast.parse(open(path).read())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_library_imports_no_application_module_anywhere():
    offenders = []
    for module, path in _modules("asmg_tf").items():
        for imported in _imports(path, top_level_only=False):  # function-level imports count too
            if imported.split(".")[0] in APPLICATIONS:
                offenders.append(f"{module} imports {imported}")
    assert not offenders, offenders


def test_importing_the_whole_library_loads_no_application_module():
    code = (
        "import importlib, pkgutil, sys, asmg_tf\n"
        "for m in pkgutil.walk_packages(asmg_tf.__path__, 'asmg_tf.'):\n"
        "    importlib.import_module(m.name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {APPLICATIONS!r}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_circle_between_modules(package):
    """Imports within the project, module-level and function-level alike, form no cycle (a deferred import still
    ties two modules together; generator.functional <-> generator.row_gather was one)."""
    modules = {name: path for p in PACKAGES for name, path in _modules(p).items()}
    graph = {
        name: {m for m in _imports(path, top_level_only=False) if m in modules and m != name}
        for name, path in modules.items()
        if name.split(".")[0] == package
    }
    for name in list(graph):
        for dep in list(graph[name]):
            graph.setdefault(
                dep, {m for m in _imports(modules[dep], top_level_only=False) if m in modules and m != dep}
            )
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if dep in _parents(node):
                continue  # a module importing its own package's __init__ is Python's normal order, not a circle
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep) :] + [dep] if dep in stack else [node, dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, cycles


def _parents(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_method_names_known_without_tensorflow_are_the_registry():
    import asmg_tf  # noqa: F401
    from asmg_tf.method_names import METHOD_NAMES
    from asmg_tf.updaters import METHODS

    assert set(METHODS) == set(METHOD_NAMES)
