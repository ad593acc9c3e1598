"""ARCHITECTURE: api/ never imports sip/ or media/ (it reaches them through services/ and
the PBX's service interface), and pbx/ never imports api/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def imported_modules(path: Path, root: Path = SRC) -> set[str]:
    """Every module `path` (a file under `root`) imports, relative imports resolved."""
    package = list(path.relative_to(root).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("api", ("flowpbx.sip", "flowpbx.media")), ("pbx", ("flowpbx.api",))],
)
def test_layers_import_only_what_they_may(layer: str, forbidden: tuple[str, ...]) -> None:
    files = sorted((SRC / "flowpbx" / layer).rglob("*.py"))
    assert len(files) > 10
    bad = {
        f"{path.relative_to(SRC)}: {mod}"
        for path in files
        for mod in imported_modules(path)
        if any(mod == other or mod.startswith(other + ".") for other in forbidden)
    }
    assert not bad, sorted(bad)


def test_relative_imports_are_resolved(tmp_path: Path) -> None:
    probe = tmp_path / "flowpbx" / "api" / "probe.py"
    probe.parent.mkdir(parents=True)
    probe.write_text("from ..media import rtp\nfrom . import deps\nimport flowpbx.sip.uri\n")
    found = imported_modules(probe, tmp_path)
    assert {"flowpbx.media.rtp", "flowpbx.api.deps", "flowpbx.sip.uri"} <= found
