"""Layer rules, held as a test: which packages may import what.

- Each of nmre's own packages imports only the packages its row of the table in
  ``docs/architecture.md`` ("Layers") allows; :data:`ALLOWED` is that table.
- Only ``nmre.gui`` may import PySide6 or pyqtgraph.
- ``nmre.core`` and ``nmre.dsp`` import neither bleak, bumble nor Qt.
- Reference implementations used as test oracles (ahrs, imufusion, tslearn, neurokit2) never appear in src/.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nmre"
QT = {"PySide6", "pyqtgraph", "shiboken6"}
BLE = {"bleak", "bumble"}
ORACLES = {"ahrs", "imufusion", "tslearn", "neurokit2"}


#: nmre package -> the nmre packages it may import (besides itself, ``errors`` and ``_numba``).
#: Same table as "Layers" in docs/architecture.md. Top-level modules count as packages of their own name.
_BELOW_GUI = {
    "core", "dsp", "quality", "feedback", "engine", "rules", "calibration", "drills",
    "acquisition", "sim", "sessions", "eval", "batch", "plugins",
}  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "dsp": {"core"},
    "quality": {"core", "dsp", "engine"},
    "feedback": {"core"},
    "engine": {"core", "feedback"},
    "rules": {"core", "dsp", "engine", "quality"},
    "calibration": {"core", "dsp", "engine", "quality"},
    "drills": {"core", "dsp", "engine", "quality", "rules", "calibration", "feedback", "plugins"},
    "acquisition": {"core", "plugins"},
    "sim": {"core", "acquisition"},
    "sessions": {"core", "dsp", "engine", "quality", "rules", "calibration", "drills", "feedback"},
    "plugins": {"core"},
    "eval": _BELOW_GUI - {"eval", "batch"},
    "batch": {"core", "engine", "drills", "sessions", "feedback", "quality", "rules", "calibration", "dsp"},
    "gui": _BELOW_GUI | {"demo"},
    # the composition root: wires everything; nothing below imports it
    "demo": _BELOW_GUI,
    "commands": _BELOW_GUI | {"gui", "demo", "cli"},
    "cli": {"commands"},
    "__main__": {"cli"},
    "__init__": {"core"},
    "errors": set(),
    "_numba": set(),
}
FREE = {"errors", "_numba"}  # leaf modules anyone may import


def imports_of(path: Path) -> set[str]:
    return {name.split(".")[0] for name in _modules_imported(path)}


def _modules_imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def nmre_imports_of(path: Path) -> set[str]:
    """The nmre packages (``nmre.X`` -> ``X``) a file imports."""
    return {m.split(".")[1] for m in _modules_imported(path) if m.startswith("nmre.") and m.count(".") >= 1}


def _package(path: Path) -> str:
    rel = path.relative_to(SRC).parts
    return rel[0] if len(rel) > 1 else rel[0].removesuffix(".py")


FILES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_layer_rules(path: Path) -> None:
    rel = path.relative_to(SRC).parts
    got = imports_of(path)
    if rel[0] != "gui":
        assert not got & QT, f"{'/'.join(rel)} imports Qt ({got & QT}); only nmre.gui may"
    if rel[0] in ("core", "dsp"):
        assert not got & BLE, f"{'/'.join(rel)} imports {got & BLE}; core and dsp must not know about BLE"
    assert not got & ORACLES, f"{'/'.join(rel)} imports test oracle {got & ORACLES}; oracles are test-only"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_nmre_package_table(path: Path) -> None:
    pkg = _package(path)
    assert pkg in ALLOWED, (
        f"package nmre.{pkg} has no row in the layer table (tests/test_layers.py, docs/architecture.md)"
    )
    bad = nmre_imports_of(path) - ALLOWED[pkg] - FREE - {pkg}
    assert not bad, (
        f"{path.relative_to(SRC)} (nmre.{pkg}) imports nmre.{', nmre.'.join(sorted(bad))}; "
        f"its row allows {', '.join(sorted(ALLOWED[pkg])) or 'nothing'}"
    )


def test_table_matches_the_architecture_doc() -> None:
    doc = (SRC.parents[1] / "docs" / "architecture.md").read_text()
    for pkg in ALLOWED:
        if pkg.startswith("_") or pkg == "errors":
            continue
        assert f"`nmre.{pkg}`" in doc, f"docs/architecture.md's layer table has no row for nmre.{pkg}"
