"""The import graph of src/flowpbx keeps its shape (docs/architecture.md): no module imports
another that imports it back (round any loop, `TYPE_CHECKING` imports included), and imports
point down the layers only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "flowpbx"

# Layer of each top-level part of flowpbx, lowest first: a module may import its own layer
# and the ones below (ARCHITECTURE.md "Layers").
LAYERS = {
    "sip": 0,
    "media": 0,
    "flow": 1,
    "settings": 1,
    "certs": 1,  # self-signed certificates for `flowpbx tls-cert` (cryptography)
    "store": 2,
    "services": 3,
    "pbx": 4,
    "api": 5,
    "app": 6,
    "cli": 7,
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        package = name if is_pkg else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join([*base, module] if module else base)
                found.add(module)
                found.update(f"{module}.{alias.name}" for alias in node.names)
        graph[name] = {
            dep
            for dep in found
            if dep in files
            and dep != name
            and not (is_pkg and dep.startswith(name + "."))  # a package naming its modules
        }
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, deps = work[-1]
            for dep in deps:
                if dep not in index:
                    index[dep] = low[dep] = counter
                    counter += 1
                    stack.append(dep)
                    on_stack.add(dep)
                    work.append((dep, iter(sorted(graph[dep]))))
                    break
                if dep in on_stack:
                    low[node] = min(low[node], index[dep])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


def _layer(module: str) -> int:
    part = module.split(".")[1]
    assert part in LAYERS, f"{module}: give flowpbx.{part} a layer in LAYERS"
    return LAYERS[part]


def test_no_import_cycle() -> None:
    graph = _graph()
    assert len(graph) > 100
    assert _cycles(graph) == []


def test_imports_point_down_the_layers() -> None:
    upward = sorted(
        f"{module} -> {dep}"
        for module, deps in _graph().items()
        if module != "flowpbx"
        for dep in deps
        if dep != "flowpbx" and _layer(dep) > _layer(module)
    )
    assert upward == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    graph = {"flowpbx.sip.a": {"flowpbx.sip.b"}, "flowpbx.sip.b": {"flowpbx.sip.a"}}
    assert _cycles(graph) == [["flowpbx.sip.a", "flowpbx.sip.b"]]
    assert _layer("flowpbx.pbx.call.live") > _layer("flowpbx.sip.message")


def test_no_pbx_module_imports_the_runtime_but_its_service() -> None:
    """The runtime is the composition root of pbx/: only the service that starts it knows
    it; every other piece takes the narrow ports it needs (pbx/ports.py, call/host.py)."""
    importers = sorted(
        module
        for module, deps in _graph().items()
        if "flowpbx.pbx.runtime" in deps and module.startswith("flowpbx.pbx.")
    )
    assert importers == ["flowpbx.pbx.service"]


def test_the_protocol_cores_do_no_io() -> None:
    """sip/ and media/ are sans-I/O (ARCHITECTURE.md): no asyncio, sockets or selectors."""
    io_modules = {"asyncio", "socket", "selectors", "ssl"}
    found = []
    for package in ("sip", "media"):
        for path in sorted((SRC / "flowpbx" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in io_modules]
    assert found == []
