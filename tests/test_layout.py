"""The package's shape, read from its source: imports form no circle, private names stay home, and every
public name a module lists exists."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import types
from pathlib import Path

import pytest

import ocfeh

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ocfeh"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


MODULES = _modules()


def _imports(path: Path, name: str) -> list[tuple[str, list[str], int]]:
    """Every import of ``path`` (module level, in functions and under TYPE_CHECKING): the module it
    names, the names it takes, the line."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for name, path in MODULES.items():
        for target, names, _ in _imports(path, name):
            # `from .pkg import submodule` takes that submodule, not the names of pkg/__init__.py
            subs = {f"{target}.{n}" for n in names if f"{target}.{n}" in MODULES}
            graph[name].update(subs)
            if target in MODULES and (not names or len(subs) < len(names)):
                graph[name].add(target)
    for m in graph:
        graph[m].discard(m)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_through_a_circle():
    assert _cycles(_graph()) == []


def test_the_subpackages_import_each_other_one_way_only():
    """Folders follow the data flow: if a folder's code uses another's, the other never uses it back."""
    def folder(m):
        return ".".join(m.split(".")[:2])

    graph: dict[str, set[str]] = {}
    for a, targets in _graph().items():
        graph.setdefault(folder(a), set()).update(folder(b) for b in targets if folder(b) != folder(a))
    for targets in list(graph.values()):
        for t in targets:
            graph.setdefault(t, set())
    graph.pop("ocfeh", None)  # the package's face imports everything
    for targets in graph.values():
        targets.discard("ocfeh")
    assert _cycles(graph) == []


BASE = {"bands", "schema", "exceptions", "provenance", "datafiles", "profiles", "parallel", "locks"}
FLOW = [  # the README's order: a folder may use its own layer's base and the layers before it
    {"synthphot"}, {"simulate"}, {"catalogs"}, {"sample"}, {"train"}, {"predict"},
    {"evaluate", "clusters", "validation", "datasets"}, {"report"}, {"pipeline"}, {"cli"},
]


def test_the_folders_import_only_the_layers_before_them():
    layer = {pkg: i for i, group in enumerate(FLOW) for pkg in group}
    top = {m.split(".")[1] for m in MODULES if m.count(".") >= 1}
    assert top - BASE - set(layer) == {"testing", "__main__"}, "a new folder: place it in FLOW and the README"
    bad = []
    for a, targets in _graph().items():
        pa = a.split(".")[1] if "." in a else None
        for b in targets:
            pb = b.split(".")[1] if "." in b else None
            if pa in BASE and pb not in BASE | {None}:
                bad.append(f"{a} -> {b}")
            elif pa in layer and pb in layer and (layer[pb] > layer[pa] or (layer[pb] == layer[pa] and pa != pb)):
                bad.append(f"{a} -> {b}")
    assert bad == []


def _private_uses(files, own_package) -> list[str]:
    bad = []
    for path, name in files:
        for target, names, line in _imports(path, name):
            if not target.startswith("ocfeh"):
                continue
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            private += [p for p in target.split(".") if p.startswith("_") and p not in ("__init__",)]
            if private and own_package(name) != own_package(target):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {target} {private}")
    return bad


def _packages() -> set[str]:
    return {_module_name(p) for p in SRC.rglob("__init__.py")}


def test_private_names_are_used_only_inside_their_own_package():
    packages = _packages()

    def package(m):
        return m if m in packages else m.rpartition(".")[0]

    assert _private_uses([(p, n) for n, p in MODULES.items()], package) == []


def test_tests_and_benchmarks_use_the_public_names_only():
    files = [(p, "tests." + p.stem) for p in (ROOT / "tests").glob("*.py")]
    files += [(p, "benchmarks." + p.stem) for p in (ROOT / "benchmarks").rglob("*.py")]
    assert _private_uses(files, lambda m: m.split(".")[0]) == []


@pytest.mark.parametrize("name", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_listed_public_name_exists(name):
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert missing == []


def test_no_submodule_is_hidden_behind_a_name_of_its_package():
    """``ocfeh.x.y`` stays reachable as a module: no function or class of ``ocfeh.x`` is called ``y``."""
    hidden = []
    for info in pkgutil.walk_packages(ocfeh.__path__, "ocfeh."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
        parent, _, leaf = info.name.rpartition(".")
        if not isinstance(getattr(importlib.import_module(parent), leaf, None), types.ModuleType):
            hidden.append(info.name)
    assert hidden == []


def test_modules_stay_small():
    sizes = {n: len(p.read_text().splitlines()) for n, p in MODULES.items()}
    assert {n: s for n, s in sizes.items() if s > 600} == {}
